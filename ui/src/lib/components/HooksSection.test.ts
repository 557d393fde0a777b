import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import HooksSection from "./HooksSection.svelte";
import * as api from "../api";
import { environment } from "../testing/fixtures";

vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn() } }));
vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, setHooks: vi.fn() };
});

describe("HooksSection", () => {
  beforeEach(() => {
    vi.mocked(api.setHooks).mockReset().mockImplementation(async (_id, hooks) => ({ ...environment, hooks }));
  });

  it("saves the commands typed, empty ones as none, with the timeout", async () => {
    const onsaved = vi.fn();
    const user = userEvent.setup();
    render(HooksSection, { props: { env: environment, onsaved } });

    await user.type(screen.getByTestId("hook-beforeBackup"), "./manage.py maintenance_mode on");
    await user.type(screen.getByTestId("hook-afterBackup"), "./manage.py maintenance_mode off");
    await user.clear(screen.getByTestId("hook-timeout"));
    await user.type(screen.getByTestId("hook-timeout"), "120");
    await user.click(screen.getByTestId("save-hooks"));

    expect(api.setHooks).toHaveBeenCalledWith(environment.id, {
      beforeBackup: "./manage.py maintenance_mode on",
      afterBackup: "./manage.py maintenance_mode off",
      beforeRestore: null,
      afterRestore: null,
      timeoutSeconds: 120,
    });
    expect(onsaved).toHaveBeenCalled();
  });

  it("refuses a timeout that is not a whole number of seconds, sending nothing", async () => {
    const user = userEvent.setup();
    render(HooksSection, { props: { env: environment } });
    await user.clear(screen.getByTestId("hook-timeout"));
    await user.type(screen.getByTestId("hook-timeout"), "soon");
    await user.click(screen.getByTestId("save-hooks"));
    expect(api.setHooks).not.toHaveBeenCalled();
    expect(await screen.findByTestId("field-error-timeoutSeconds")).toHaveTextContent("whole seconds");
  });
});
