import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import ConnectionForm from "./ConnectionForm.svelte";
import * as api from "../api";
import type { Environment } from "../bindings/Environment";
import { environment } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return {
    ...actual,
    parseDatabaseUrl: vi.fn(),
    testConnection: vi.fn(),
    changeEnvironment: vi.fn(),
  };
});

const env: Environment = { ...environment, connection: null, mediaDir: "/srv/media" };

describe("ConnectionForm", () => {
  beforeEach(() => {
    vi.mocked(api.parseDatabaseUrl).mockReset();
    vi.mocked(api.testConnection).mockReset();
    vi.mocked(api.changeEnvironment).mockReset();
  });

  it("fills the fields from a parsed DATABASE_URL, password included", async () => {
    vi.mocked(api.parseDatabaseUrl).mockResolvedValue({
      host: "db.example.com",
      port: 6543,
      database: "shop",
      user: "shop_owner",
      sslMode: "require",
      password: "s3cret",
    });
    const user = userEvent.setup();
    render(ConnectionForm, { props: { env } });

    await user.type(screen.getByTestId("database-url-input"), "postgres://shop_owner:s3cret@db.example.com:6543/shop");
    await user.click(screen.getByTestId("fill-from-url"));

    expect(api.parseDatabaseUrl).toHaveBeenCalledWith("postgres://shop_owner:s3cret@db.example.com:6543/shop");
    await vi.waitFor(() => expect(screen.getByTestId("pg-host")).toHaveValue("db.example.com"));
    expect(screen.getByTestId("pg-port")).toHaveValue("6543");
    expect(screen.getByTestId("pg-database")).toHaveValue("shop");
    expect(screen.getByTestId("pg-user")).toHaveValue("shop_owner");
    expect(screen.getByTestId("pg-password")).toHaveValue("s3cret");
    expect(screen.getByTestId("pg-sslmode")).toHaveTextContent("require");
  });

  it("asks another machine to prove who it is, with the CA file the user gives", async () => {
    vi.mocked(api.testConnection).mockRejectedValue({ code: "pg_tls", field: "sslRootCert", message: "db.example.com:5432 could not prove it is the server you mean" });
    const user = userEvent.setup();
    render(ConnectionForm, { props: { env } });
    await user.type(screen.getByTestId("pg-host"), "localhost");
    expect(screen.getByTestId("pg-sslmode")).toHaveTextContent("prefer");
    expect(screen.queryByTestId("pg-ssl-root-cert")).not.toBeInTheDocument();

    await user.clear(screen.getByTestId("pg-host"));
    await user.type(screen.getByTestId("pg-host"), "db.example.com");
    expect(screen.getByTestId("pg-sslmode")).toHaveTextContent("verify-full");
    await user.type(screen.getByTestId("pg-database"), "shop");
    await user.type(screen.getByTestId("pg-user"), "app");
    await user.type(screen.getByTestId("pg-ssl-root-cert"), "/etc/ssl/provider-ca.pem");
    await user.click(screen.getByTestId("test-connection"));
    expect(api.testConnection).toHaveBeenCalledWith(
      expect.objectContaining({ host: "db.example.com", sslMode: "verify-full", sslRootCert: "/etc/ssl/provider-ca.pem" }),
      env.id,
    );
  });

  it("warns when a saved connection to another machine does not check the server", () => {
    render(ConnectionForm, { props: { env: { ...env, connection: { host: "db.example.com", port: 5432, database: "shop", user: "app", sslMode: "prefer", hasPassword: true } } } });
    expect(screen.getByTestId("pg-ssl-unchecked")).toHaveTextContent("does not check that db.example.com is the server you mean");
  });

  it("shows an invalid URL error inline", async () => {
    vi.mocked(api.parseDatabaseUrl).mockRejectedValue({
      code: "invalid_database_url",
      field: "url",
      message: "Not a postgres:// URL",
    });
    const user = userEvent.setup();
    render(ConnectionForm, { props: { env } });

    await user.type(screen.getByTestId("database-url-input"), "mysql://x{Enter}");

    expect(await screen.findByTestId("field-error-url")).toHaveTextContent("Not a postgres:// URL");
  });

  it("tests the connection and shows the report, keeping the saved password", async () => {
    vi.mocked(api.testConnection).mockResolvedValue({
      serverVersion: "15.18",
      serverMajor: 15,
      databaseSizeBytes: 7_600_000,
      pgDump: { path: "/usr/lib/postgresql/16/bin/pg_dump", major: 16, version: "16.4" },
      pgDumpCandidates: [],
    });
    const user = userEvent.setup();
    render(ConnectionForm, {
      props: {
        env: {
          ...env,
          connection: { host: "localhost", port: 5432, database: "shop", user: "app", sslMode: "prefer", hasPassword: true },
        },
      },
    });

    expect(screen.getByTestId("pg-password")).toHaveAttribute("placeholder", "••••• saved");
    await user.click(screen.getByTestId("test-connection"));

    const card = await screen.findByTestId("connection-result");
    expect(card).toHaveTextContent("15.18");
    expect(card).toHaveTextContent("7.2 MiB");
    expect(card).toHaveTextContent("/usr/lib/postgresql/16/bin/pg_dump");
    expect(api.testConnection).toHaveBeenCalledWith(
      { host: "localhost", port: 5432, database: "shop", user: "app", sslMode: "prefer", password: null },
      "e1",
    );
  });

  it("warns when no compatible pg_dump is installed", async () => {
    vi.mocked(api.testConnection).mockResolvedValue({
      serverVersion: "17.2",
      serverMajor: 17,
      databaseSizeBytes: 1024,
      pgDump: null,
      pgDumpCandidates: [{ path: "/usr/lib/postgresql/15/bin/pg_dump", major: 15, version: "15.8" }],
    });
    const user = userEvent.setup();
    render(ConnectionForm, { props: { env: { ...env, connection: { host: "db", port: 5432, database: "shop", user: "app", sslMode: "prefer", hasPassword: true } } } });

    await user.click(screen.getByTestId("test-connection"));

    const warning = await screen.findByTestId("pg-dump-warning");
    expect(warning).toHaveTextContent("No compatible pg_dump found");
    expect(warning).toHaveTextContent("/usr/lib/postgresql/15/bin/pg_dump");
  });

  it("marks every missing field at once, before anything is sent", async () => {
    const user = userEvent.setup();
    render(ConnectionForm, { props: { env } });
    await user.clear(screen.getByTestId("pg-port"));
    await user.type(screen.getByTestId("pg-port"), "99999");

    await user.click(screen.getByTestId("save-connection"));
    for (const field of ["host", "port", "database", "user"]) {
      expect(screen.getByTestId(`field-error-${field}`)).toBeInTheDocument();
    }
    expect(api.testConnection).not.toHaveBeenCalled();
    expect(api.changeEnvironment).not.toHaveBeenCalled();
  });

  it("shows connection failures in an alert and field errors under their field", async () => {
    vi.mocked(api.testConnection)
      .mockRejectedValueOnce({ code: "pg_error", field: null, message: "the server said no" })
      .mockRejectedValueOnce({ code: "pg_unreachable", field: "host", message: "The host name cannot be found" });
    const user = userEvent.setup();
    render(ConnectionForm, { props: { env } });
    await user.type(screen.getByTestId("pg-host"), "db.example.com");
    await user.type(screen.getByTestId("pg-database"), "shop");
    await user.type(screen.getByTestId("pg-user"), "shop");

    await user.click(screen.getByTestId("test-connection"));
    expect(await screen.findByTestId("connection-error")).toHaveTextContent("the server said no");

    await user.click(screen.getByTestId("test-connection"));
    expect(await screen.findByTestId("field-error-host")).toHaveTextContent("The host name cannot be found");
    expect(screen.queryByTestId("connection-error")).not.toBeInTheDocument();
  });

  it("through a server, says which hop failed: SSH or PostgreSQL behind it", async () => {
    vi.mocked(api.testConnection)
      .mockRejectedValueOnce({ code: "ssh_unreachable", field: "server", message: "Cannot reach web1 over SSH." })
      .mockRejectedValueOnce({ code: "pg_unreachable", field: null, message: "web1 could not reach PostgreSQL." });
    const user = userEvent.setup();
    render(ConnectionForm, { props: { env: { ...env, server: "web1" } } });
    await user.type(screen.getByTestId("pg-host"), "/var/run/postgresql");
    await user.type(screen.getByTestId("pg-database"), "shop");
    await user.type(screen.getByTestId("pg-user"), "shop");

    await user.click(screen.getByTestId("test-connection"));
    expect(await screen.findByTestId("connection-error")).toHaveTextContent("SSH to web1 failed");
    await user.click(screen.getByTestId("test-connection"));
    await vi.waitFor(() =>
      expect(screen.getByTestId("connection-error")).toHaveTextContent("Reached web1 over SSH, but PostgreSQL failed"),
    );
  });

  it("tests the connection on Save and keeps a failing one unsaved unless told to", async () => {
    vi.mocked(api.testConnection).mockRejectedValue({
      code: "pg_auth_failed",
      field: "password",
      message: "The server refused this password for user “shop”.",
      detail: "password authentication failed for user \"shop\"",
    });
    vi.mocked(api.changeEnvironment).mockResolvedValue(env);
    const user = userEvent.setup();
    render(ConnectionForm, { props: { env } });
    await user.type(screen.getByTestId("pg-host"), "db.example.com");
    await user.type(screen.getByTestId("pg-database"), "shop");
    await user.type(screen.getByTestId("pg-user"), "shop");
    await user.type(screen.getByTestId("pg-password"), "wrong");

    await user.click(screen.getByTestId("save-connection"));
    expect(await screen.findByTestId("field-error-password")).toHaveTextContent("refused this password");
    expect(screen.getByTestId("connection-error-detail")).toHaveTextContent("password authentication failed");
    expect(api.changeEnvironment).not.toHaveBeenCalled();

    await user.click(screen.getByTestId("save-connection-untested"));
    await vi.waitFor(() =>
      expect(api.changeEnvironment).toHaveBeenCalledWith(
        env.id,
        expect.objectContaining({ field: "connection", value: expect.objectContaining({ password: "wrong" }) }),
      ),
    );
    expect(api.testConnection).toHaveBeenCalledTimes(1);
  });

  it("asks for the password again once the host changes", async () => {
    const user = userEvent.setup();
    render(ConnectionForm, {
      props: {
        env: { ...env, connection: { host: "db", port: 5432, database: "shop", user: "app", sslMode: "prefer", hasPassword: true } },
      },
    });
    const password = screen.getByTestId("pg-password");
    expect(password).toHaveAttribute("placeholder", "••••• saved");
    await user.type(screen.getByTestId("pg-host"), "-replica");
    expect(password).not.toHaveAttribute("placeholder", "••••• saved");
  });
});
