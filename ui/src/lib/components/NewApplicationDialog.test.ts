import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import NewApplicationDialog from "./NewApplicationDialog.svelte";
import * as api from "../api";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return {
    ...actual,
    createApplication: vi.fn(),
    listApplications: vi.fn(),
  };
});

describe("NewApplicationDialog", () => {
  beforeEach(() => {
    vi.mocked(api.createApplication).mockReset();
    vi.mocked(api.listApplications).mockReset();
  });

  it("shows the API's conflict error inline under the name field", async () => {
    vi.mocked(api.createApplication).mockRejectedValue({
      code: "conflict",
      field: "name",
      message: "An application named “Shop” already exists",
    });
    const user = userEvent.setup();
    render(NewApplicationDialog, { props: { open: true } });

    const input = await screen.findByTestId("name-input");
    await user.type(input, "Shop{Enter}");

    const error = await screen.findByTestId("field-error-name");
    expect(error).toHaveTextContent("An application named “Shop” already exists");
    expect(api.createApplication).toHaveBeenCalledWith("Shop");
    // The dialog stays open so the name can be fixed.
    expect(screen.getByTestId("name-input")).toBeInTheDocument();
  });

  it("shows other errors as an alert, not under the field", async () => {
    vi.mocked(api.createApplication).mockRejectedValue({
      code: "catalog",
      field: null,
      message: "The catalog could not be written",
    });
    const user = userEvent.setup();
    render(NewApplicationDialog, { props: { open: true } });

    await user.type(await screen.findByTestId("name-input"), "Shop");
    await user.click(screen.getByTestId("name-submit"));

    expect(await screen.findByRole("alert")).toHaveTextContent("The catalog could not be written");
    expect(screen.queryByTestId("field-error-name")).not.toBeInTheDocument();
  });

  it("creates the application and closes", async () => {
    vi.mocked(api.createApplication).mockResolvedValue({ id: "a1", name: "Shop", createdAt: "2024-01-01T00:00:00Z" });
    vi.mocked(api.listApplications).mockResolvedValue([
      { id: "a1", name: "Shop", createdAt: "2024-01-01T00:00:00Z", environments: [] },
    ]);
    const user = userEvent.setup();
    render(NewApplicationDialog, { props: { open: true } });

    await user.type(await screen.findByTestId("name-input"), "  Shop  {Enter}");

    expect(api.createApplication).toHaveBeenCalledWith("Shop");
    await vi.waitFor(() => expect(screen.queryByTestId("name-input")).not.toBeInTheDocument());
  });
});
