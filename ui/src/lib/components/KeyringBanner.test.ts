import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/svelte";
import KeyringBanner from "./KeyringBanner.svelte";

describe("KeyringBanner", () => {
  it("tells a missing keyring service apart from a locked keyring, each with its fix", () => {
    const { unmount } = render(KeyringBanner, {
      props: {
        status: { available: false, code: "keyring_unavailable", message: "DBus error: Failed to connect to socket" },
      },
    });
    expect(screen.getByTestId("keyring-banner")).toHaveTextContent("No system keyring is running");
    expect(screen.getByTestId("keyring-banner")).toHaveTextContent("gnome-keyring");
    expect(screen.getByTestId("keyring-banner-detail")).toHaveTextContent("Failed to connect to socket");
    unmount();

    render(KeyringBanner, { props: { status: { available: false, code: "keyring_locked", message: "locked" } } });
    expect(screen.getByTestId("keyring-banner")).toHaveTextContent("The system keyring is locked");
    expect(screen.getByTestId("keyring-banner")).not.toHaveTextContent("gnome-keyring");
  });
});
