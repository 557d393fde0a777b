import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import ServerSection from "./ServerSection.svelte";
import * as api from "../api";
import { environment } from "../testing/fixtures";

vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn() } }));
vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return {
    ...actual,
    setServer: vi.fn(),
    sshHosts: vi.fn(),
    unknownHostKeys: vi.fn(),
    trustHostKeys: vi.fn(),
    testServer: vi.fn(),
    setSshKeyPassphrase: vi.fn(),
    setDumpOnServer: vi.fn(),
  };
});

const key = { host: "[web1.example.com]:2222", keyType: "ED25519", fingerprint: "SHA256:abcDEF123" };

describe("ServerSection", () => {
  beforeEach(() => {
    vi.mocked(api.setServer)
      .mockReset()
      .mockImplementation(async (_id, server) => ({ ...environment, server: server || null }));
    vi.mocked(api.sshHosts).mockReset().mockResolvedValue(["prod", "staging"]);
    vi.mocked(api.unknownHostKeys).mockReset().mockResolvedValue([key]);
    vi.mocked(api.trustHostKeys).mockReset().mockResolvedValue([key]);
    vi.mocked(api.testServer).mockReset().mockResolvedValue(undefined);
    vi.mocked(api.setSshKeyPassphrase).mockReset().mockResolvedValue(undefined);
    vi.mocked(api.setDumpOnServer)
      .mockReset()
      .mockImplementation(async (_id, onServer) => ({ ...environment, server: "web1", dumpOnServer: onServer }));
  });

  it("offers to run pg_dump on the server once there is one, and saves the choice", async () => {
    const onsaved = vi.fn();
    const user = userEvent.setup();
    const { rerender } = render(ServerSection, { props: { env: environment, onsaved } });
    expect(screen.queryByTestId("dump-on-server")).toBeNull();
    await rerender({ env: { ...environment, server: "web1" }, onsaved });

    await user.click(screen.getByTestId("dump-on-server"));
    expect(api.setDumpOnServer).toHaveBeenCalledWith(environment.id, true);
    await vi.waitFor(() => expect(onsaved).toHaveBeenCalled());
    expect(screen.getByTestId("dump-on-server")).toBeChecked();
  });

  it("offers the SSH config's aliases, saves the server, and trusts only the fingerprint shown", async () => {
    const onsaved = vi.fn();
    const user = userEvent.setup();
    const { container } = render(ServerSection, { props: { env: environment, onsaved } });
    await vi.waitFor(() => expect(container.querySelectorAll("#ssh-host-aliases option")).toHaveLength(2));

    await user.type(screen.getByTestId("server-input"), "deploy@web1.example.com:2222");
    await user.click(screen.getByTestId("save-server"));

    expect(api.setServer).toHaveBeenCalledWith(environment.id, "deploy@web1.example.com:2222");
    expect(onsaved).toHaveBeenCalled();
    expect(api.unknownHostKeys).toHaveBeenCalledWith("deploy@web1.example.com:2222");
    const dialog = await screen.findByTestId("confirm-dialog");
    expect(within(dialog).getByTestId("host-key-fingerprint")).toHaveTextContent("SHA256:abcDEF123");
    expect(api.trustHostKeys).not.toHaveBeenCalled();

    await user.click(within(dialog).getByRole("button", { name: "Trust" }));
    expect(api.trustHostKeys).toHaveBeenCalledWith("deploy@web1.example.com:2222", ["SHA256:abcDEF123"]);
    expect(await screen.findByTestId("server-trusted")).toBeInTheDocument();
    expect(api.testServer).toHaveBeenCalledWith("deploy@web1.example.com:2222");
  });

  it("asks once for a locked key's passphrase, then connects with it", async () => {
    vi.mocked(api.unknownHostKeys).mockResolvedValue([]);
    vi.mocked(api.testServer)
      .mockRejectedValueOnce({
        code: "ssh_key_locked",
        message: "web1 refused the keys offered, and /home/me/.ssh/id_ed25519 is protected by a passphrase.",
        field: "passphrase",
        detail: "/home/me/.ssh/id_ed25519",
      })
      .mockResolvedValueOnce(undefined);
    const user = userEvent.setup();
    render(ServerSection, { props: { env: environment } });
    await user.type(screen.getByTestId("server-input"), "web1");
    await user.click(screen.getByTestId("save-server"));

    const prompt = await screen.findByTestId("key-passphrase");
    expect(prompt).toHaveTextContent("/home/me/.ssh/id_ed25519");
    await user.type(screen.getByTestId("key-passphrase-input"), "open sesame");
    await user.click(screen.getByTestId("unlock-key"));

    expect(api.setSshKeyPassphrase).toHaveBeenCalledWith("/home/me/.ssh/id_ed25519", "open sesame");
    expect(await screen.findByTestId("server-trusted")).toBeInTheDocument();
    expect(screen.queryByTestId("key-passphrase")).toBeNull();
  });

  it("shows a changed host key as the error it is, with what SSH said, trusting nothing", async () => {
    vi.mocked(api.unknownHostKeys).mockRejectedValue({
      code: "ssh_host_key_changed",
      message: "web1 presented a different host key than the one trusted before.",
      field: "server",
      detail: "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!",
    });
    const user = userEvent.setup();
    render(ServerSection, { props: { env: environment } });
    await user.type(screen.getByTestId("server-input"), "web1");
    await user.click(screen.getByTestId("save-server"));

    const problem = await screen.findByTestId("server-problem");
    expect(problem).toHaveTextContent("different host key");
    expect(problem).toHaveTextContent("IDENTIFICATION HAS CHANGED");
    expect(screen.queryByTestId("confirm-dialog")).toBeNull();
    expect(api.trustHostKeys).not.toHaveBeenCalled();
  });

  it("marks a server it refuses on the field, asking nothing of SSH", async () => {
    vi.mocked(api.setServer).mockRejectedValue({
      code: "validation",
      message: "A server cannot start with “-”.",
      field: "server",
    });
    const user = userEvent.setup();
    render(ServerSection, { props: { env: environment } });
    await user.type(screen.getByTestId("server-input"), "-oProxyCommand=x");
    await user.click(screen.getByTestId("save-server"));
    expect(await screen.findByTestId("field-error-server")).toHaveTextContent("cannot start");
    expect(api.unknownHostKeys).not.toHaveBeenCalled();
  });
});
