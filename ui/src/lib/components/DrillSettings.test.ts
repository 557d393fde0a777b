import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import DrillSettings from "./DrillSettings.svelte";
import * as api from "../api";
import { environment } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, setDrillPlace: vi.fn(), parseDatabaseUrl: vi.fn() };
});
vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn() } }));

const drillServer = {
  host: "test.internal",
  port: 5432,
  database: "postgres",
  user: "drill",
  sslMode: "prefer" as const,
  password: "pw",
};

describe("DrillSettings", () => {
  beforeEach(() => {
    vi.mocked(api.setDrillPlace).mockReset();
    vi.mocked(api.parseDatabaseUrl).mockReset().mockResolvedValue(drillServer);
  });

  it("drills on a scratch server by default", async () => {
    render(DrillSettings, { props: { env: environment } });
    expect(await screen.findByTestId("drill-place-scratch")).toBeChecked();
    expect(screen.getByTestId("drill-place-environmentServer")).not.toBeChecked();
    expect(screen.queryByTestId("drill-own-server-warning")).not.toBeInTheDocument();
  });

  it("says what drilling on the environment's own server means before saving it", async () => {
    vi.mocked(api.setDrillPlace).mockResolvedValue({ ...environment, drillPlace: { kind: "environmentServer" } });
    const onsaved = vi.fn();
    const user = userEvent.setup();
    render(DrillSettings, { props: { env: environment, onsaved } });

    await user.click(await screen.findByTestId("drill-place-environmentServer"));
    expect(screen.getByTestId("drill-own-server-warning")).toHaveTextContent("full copy of the backup");
    expect(api.setDrillPlace).not.toHaveBeenCalled();

    await user.click(screen.getByTestId("save-drill-own-server"));
    expect(api.setDrillPlace).toHaveBeenCalledWith("e1", { kind: "environmentServer" });
    expect(onsaved).toHaveBeenCalled();
  });

  it("asks for another server's URL and saves it with its connection", async () => {
    vi.mocked(api.setDrillPlace).mockResolvedValue({ ...environment, drillPlace: { kind: "scratch" } });
    const user = userEvent.setup();
    render(DrillSettings, { props: { env: environment } });

    await user.click(await screen.findByTestId("drill-place-server"));
    expect(api.setDrillPlace).not.toHaveBeenCalled();
    await user.type(screen.getByTestId("drill-server-url"), "postgres://drill:pw@test.internal/postgres");
    await user.click(screen.getByTestId("save-drill-server"));

    expect(api.parseDatabaseUrl).toHaveBeenCalledWith("postgres://drill:pw@test.internal/postgres");
    expect(api.setDrillPlace).toHaveBeenCalledWith("e1", { kind: "server", connection: drillServer });
  });
});
