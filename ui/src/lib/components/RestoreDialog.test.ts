import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import RestoreDialog from "./RestoreDialog.svelte";
import RestoreOutcome from "./RestoreOutcome.svelte";
import * as api from "../api";
import type { RestorePreview } from "../bindings/RestorePreview";
import type { DatabaseRestorePlan } from "../bindings/DatabaseRestorePlan";
import { store } from "../state.svelte";
import { record, restoreJob, restoreSummary, tree } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return {
    ...actual,
    restorePreview: vi.fn(),
    restoreDatabasePlan: vi.fn(),
    startRestore: vi.fn(),
    cancelJob: vi.fn(),
    listBackups: vi.fn(),
  };
});
vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn(), info: vi.fn(), warning: vi.fn() } }));

const ID = "20250303T143000Z-abcd1234";

const previews: Record<string, RestorePreview> = {
  e1: {
    applicationName: "Shop",
    environmentName: "production",
    sameEnvironment: true,
    requiresTypedConfirmation: true,
    database: "shop on db.example.com:5432",
    mediaDir: "/srv/shop/media",
  },
  e2: {
    applicationName: "Shop",
    environmentName: "staging",
    sameEnvironment: true,
    requiresTypedConfirmation: false,
    database: "shop_staging on localhost:5432",
    mediaDir: "/srv/staging/media",
  },
};

const plainPlan: DatabaseRestorePlan = {
  database: "shop",
  role: "shop",
  recreated: [{ kind: "table", count: 3 }],
  kept: [],
  needsAdmin: [],
};

/** A backup of staging (e2), which restores into staging without typing its name. */
function stagingRecord() {
  const r = record();
  r.manifest = { ...r.manifest, environment: { id: "e2", name: "staging" } };
  return r;
}

describe("RestoreDialog", () => {
  beforeEach(() => {
    vi.mocked(api.restorePreview).mockReset().mockImplementation(async (_, envId) => previews[envId]);
    vi.mocked(api.restoreDatabasePlan).mockReset().mockResolvedValue(plainPlan);
    vi.mocked(api.startRestore).mockReset();
    vi.mocked(api.cancelJob).mockReset();
    store.tree = tree;
    store.restores = {};
    store.runningJobs = {};
    store.safetyBackups = {};
    store.backups = {};
  });

  it("preselects the backup's own environment and says what will be overwritten", async () => {
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: record() } });

    expect(await screen.findByTestId("restore-application")).toHaveAttribute("data-value", "a1");
    expect(screen.getByTestId("restore-environment")).toHaveAttribute("data-value", "e1");
    expect(api.restorePreview).toHaveBeenCalledWith(ID, "e1");
    const overwritten = await screen.findByTestId("restore-overwritten");
    expect(overwritten).toHaveTextContent(
      "The database shop on db.example.com:5432 and the media directory /srv/shop/media of Shop / production will be overwritten.",
    );

    await user.click(screen.getByTestId("restore-media"));
    expect(overwritten).toHaveTextContent("The database shop on db.example.com:5432 of Shop / production will be overwritten.");
  });

  it("previews another destination when one is chosen", async () => {
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: record() } });
    await screen.findByTestId("restore-overwritten");

    await user.click(screen.getByTestId("restore-environment"));
    const staging = (await screen.findAllByTestId("restore-environment-option")).find((o) => o.dataset.value === "e2");
    await user.click(staging!);

    expect(api.restorePreview).toHaveBeenLastCalledWith(ID, "e2");
    await vi.waitFor(() =>
      expect(screen.getByTestId("restore-overwritten")).toHaveTextContent(
        "The database shop_staging on localhost:5432 and the media directory /srv/staging/media of Shop / staging will be overwritten.",
      ),
    );
    expect(screen.queryByTestId("restore-confirmation")).not.toBeInTheDocument();
    expect(screen.getByTestId("restore-submit")).toBeEnabled();
  });

  it("asks for an environment once another application is chosen", async () => {
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: record() } });
    await screen.findByTestId("restore-overwritten");

    await user.click(screen.getByTestId("restore-application"));
    const blog = (await screen.findAllByTestId("restore-application-option")).find((o) => o.dataset.value === "a2");
    await user.click(blog!);

    expect(screen.getByTestId("restore-environment")).toHaveAttribute("data-value", "");
    expect(screen.getByTestId("restore-environment")).toBeDisabled();
    expect(screen.queryByTestId("restore-overwritten")).not.toBeInTheDocument();
    expect(screen.getByTestId("restore-submit")).toBeDisabled();
  });

  it("says what the database restore recreates and keeps before it starts", async () => {
    vi.mocked(api.restoreDatabasePlan).mockResolvedValue({
      ...plainPlan,
      recreated: [
        { kind: "index", count: 2 },
        { kind: "table", count: 3 },
      ],
      kept: [
        { kind: "extension", name: "pgcrypto", reason: "already installed, owned by postgres", fix: null, command: null },
      ],
    });
    render(RestoreDialog, { props: { open: true, record: record() } });

    expect(await screen.findByTestId("restore-plan-recreated")).toHaveTextContent(
      "Dropped and created again from the backup: 2 indexes and 3 tables.",
    );
    expect(screen.getByTestId("restore-plan-kept")).toHaveTextContent(
      "extension pgcrypto — already installed, owned by postgres",
    );
    expect(api.restoreDatabasePlan).toHaveBeenCalledWith(ID, "e1");
    expect(screen.queryByTestId("restore-plan-needs-admin")).not.toBeInTheDocument();
  });

  it("holds the restore back while the database needs its administrator, with the command to run", async () => {
    vi.mocked(api.restoreDatabasePlan).mockResolvedValue({
      ...plainPlan,
      needsAdmin: [
        {
          kind: "extension",
          name: "dblink",
          reason: "not installed, and shop may not create it",
          fix: "a superuser runs",
          command: `psql -d shop -c 'CREATE EXTENSION IF NOT EXISTS "dblink"'`,
        },
      ],
    });
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: stagingRecord() } });

    const needs = await screen.findByTestId("restore-plan-needs-admin");
    expect(needs).toHaveTextContent("extension dblink: not installed, and shop may not create it. a superuser runs:");
    expect(within(needs).getByText(`psql -d shop -c 'CREATE EXTENSION IF NOT EXISTS "dblink"'`)).toBeInTheDocument();
    expect(screen.getByTestId("restore-submit")).toBeDisabled();

    // Media alone does not touch the database.
    await user.click(screen.getByTestId("restore-database"));
    expect(screen.queryByTestId("restore-plan")).not.toBeInTheDocument();
    expect(screen.getByTestId("restore-submit")).toBeEnabled();
  });

  it("offers only the parts the backup holds, both ticked by default", async () => {
    const { unmount } = render(RestoreDialog, { props: { open: true, record: record() } });
    expect(await screen.findByTestId("restore-database")).toBeChecked();
    expect(screen.getByTestId("restore-media")).toBeChecked();
    unmount();

    const databaseOnly = record();
    databaseOnly.manifest = { ...databaseOnly.manifest, media: null };
    render(RestoreDialog, { props: { open: true, record: databaseOnly } });
    const media = await screen.findByTestId("restore-media");
    expect(media).toBeDisabled();
    expect(media).not.toBeChecked();
    expect(screen.getByText("This backup holds no media.")).toBeInTheDocument();
    expect(screen.getByTestId("restore-database")).toBeChecked();
  });

  it("keeps Restore disabled until the destination's name is typed exactly", async () => {
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: record() } });

    const input = await screen.findByTestId("restore-confirmation");
    expect(screen.getByTestId("restore-confirmation-ask").querySelector("code")).toHaveTextContent(/^production$/);
    const submit = screen.getByTestId("restore-submit");
    expect(submit).toHaveTextContent("Restore into production");
    expect(submit).toBeDisabled();

    await user.type(input, "Production");
    expect(submit).toBeDisabled();
    await user.clear(input);
    await user.type(input, "productio");
    expect(submit).toBeDisabled();
    await user.type(input, "n");
    expect(submit).toBeEnabled();
  });

  it("warns that unticking the safety backup leaves no way back", async () => {
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: record() } });

    const safety = await screen.findByTestId("restore-safety-backup");
    expect(safety).toBeChecked();
    expect(screen.getByText("Take a safety backup of production first")).toBeInTheDocument();
    expect(screen.queryByTestId("restore-no-safety-warning")).not.toBeInTheDocument();

    await user.click(safety);
    expect(screen.getByTestId("restore-no-safety-warning")).toHaveTextContent("no way back");
  });

  it("warns when the destination has nowhere to put a chosen part", async () => {
    store.tree = [
      { ...tree[0], environments: [tree[0].environments[0], { ...tree[0].environments[1], mediaDir: null }] },
    ];
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: stagingRecord() } });

    expect(await screen.findByTestId("field-error-media")).toHaveTextContent("staging has no media directory or bucket to restore into.");
    expect(screen.getByTestId("restore-submit")).toBeDisabled();

    await user.click(screen.getByTestId("restore-media"));
    expect(screen.queryByTestId("field-error-media")).not.toBeInTheDocument();
    await vi.waitFor(() => expect(screen.getByTestId("restore-submit")).toBeEnabled());
  });

  it("starts the restore, follows it to its summary with the safety backup", async () => {
    const started = restoreJob({ id: "r1", environmentId: "e1", phase: "checking", request: { environmentId: "e1" } });
    vi.mocked(api.startRestore).mockResolvedValue(started);
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: record() } });

    await user.click(await screen.findByTestId("restore-media"));
    await user.type(await screen.findByTestId("restore-confirmation"), "production");
    await user.click(screen.getByTestId("restore-submit"));

    expect(api.startRestore).toHaveBeenCalledWith({
      backupId: ID,
      environmentId: "e1",
      database: true,
      media: false,
      safetyBackup: true,
      confirmation: "production",
    });
    expect(await screen.findByTestId("restore-phase")).toHaveTextContent("Checking…");
    expect(screen.getByTestId("restore-progress")).toBeInTheDocument();
    expect(screen.getByTestId("restore-cancel")).toBeInTheDocument();

    store.receiveJob({ ...started, phase: "restoring", bytesDone: 30, bytesTotal: 120 });
    await vi.waitFor(() => expect(screen.getByTestId("restore-progress")).toHaveAttribute("aria-valuenow", "25"));
    expect(screen.getByTestId("restore-phase")).toHaveTextContent("Restoring…");

    store.receiveJob({ ...started, phase: "committing", cancellable: false });
    await vi.waitFor(() => expect(screen.queryByTestId("restore-cancel")).not.toBeInTheDocument());
    expect(screen.getByTestId("restore-finishing")).toHaveTextContent("Past the point of no return — finishing");

    store.receiveJob({
      ...started,
      status: "succeeded",
      phase: "checking-restored",
      cancellable: false,
      finishedAt: "2025-03-05T10:01:23.000Z",
      outcome: { type: "restore", ...restoreSummary({ media: null }) },
    });
    const summary = await screen.findByTestId("restore-summary");
    expect(within(summary).getByTestId("restore-headline")).toHaveTextContent("Restored into Shop / production");
    expect(within(summary).getByTestId("restore-safety-backup-id")).toHaveTextContent("20250305T100000Z-5afe0001");
    expect(summary).toHaveTextContent("Restoring it undoes this restore.");
  });

  it("restores into an environment that needs no typed name with a plain confirm", async () => {
    vi.mocked(api.startRestore).mockResolvedValue(restoreJob({ id: "r2" }));
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: stagingRecord() } });

    await screen.findByTestId("restore-overwritten");
    expect(screen.queryByTestId("restore-confirmation")).not.toBeInTheDocument();
    await user.click(screen.getByTestId("restore-safety-backup"));
    await user.click(screen.getByTestId("restore-submit"));

    expect(api.startRestore).toHaveBeenCalledWith({
      backupId: ID,
      environmentId: "e2",
      database: true,
      media: true,
      safetyBackup: false,
      confirmation: null,
    });
  });

  it("shows the core's refusal under the field it is about and stays on the first step", async () => {
    vi.mocked(api.startRestore).mockRejectedValue({
      code: "validation",
      field: "confirmation",
      message: "Type production to confirm that its current content will be overwritten.",
    });
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: record() } });

    await user.type(await screen.findByTestId("restore-confirmation"), "production");
    await user.click(screen.getByTestId("restore-submit"));

    expect(await screen.findByTestId("field-error-confirmation")).toHaveTextContent("Type production to confirm");
    expect(screen.getByTestId("restore-submit")).toBeInTheDocument();
    expect(screen.queryByTestId("restore-form-error")).not.toBeInTheDocument();
  });

  it("shows the backup's running restore when opened, and cancels it", async () => {
    store.receiveJob(restoreJob({ id: "r3", environmentId: "e1", request: { environmentId: "e1" } }));
    vi.mocked(api.cancelJob).mockResolvedValue(true);
    const user = userEvent.setup();
    render(RestoreDialog, { props: { open: true, record: record() } });

    const cancel = await screen.findByTestId("restore-cancel");
    await user.click(cancel);
    expect(api.cancelJob).toHaveBeenCalledWith("r3");
    expect(within(cancel).getByTestId("spinner")).toBeInTheDocument();
  });
});

describe("RestoreOutcome", () => {
  it("lists the checks and what was restored", () => {
    const job = restoreJob({ status: "succeeded", outcome: { type: "restore", ...restoreSummary() } });
    render(RestoreOutcome, { props: { job, destination: "Shop / staging" } });

    const summary = screen.getByTestId("restore-summary");
    expect(summary).toHaveAttribute("data-status", "succeeded");
    expect(screen.getAllByTestId("restore-check")).toHaveLength(3);
    expect(screen.getByTestId("restore-database")).toHaveTextContent("shop_staging · 42 tables");
    expect(screen.getByTestId("restore-extensions")).toHaveTextContent("plpgsql, pg_trgm");
    expect(screen.getByTestId("restore-kept")).toHaveTextContent("extension pg_trgm — already installed, owned by postgres");
    expect(screen.getByTestId("restore-migrations")).toHaveTextContent("orders 0012_order_total");
    expect(screen.getByTestId("restore-media-files")).toHaveTextContent("2,400 files · 11 MiB");
    expect(screen.getByTestId("restore-duration")).toHaveTextContent("1 min 23 s");
  });

  it("headlines failed checks", () => {
    const checks = [{ name: "extensions", ok: false, detail: "postgis is missing" }];
    const job = restoreJob({ status: "succeeded", outcome: { type: "restore", ...restoreSummary({ checks }) } });
    render(RestoreOutcome, { props: { job } });

    expect(screen.getByTestId("restore-headline")).toHaveTextContent("Restored, but 1 check failed");
    expect(screen.getByTestId("restore-check")).toHaveAttribute("data-ok", "false");
  });

  it("says a restore that failed before its point of no return left the destination alone", () => {
    const failed = restoreJob({
      status: "failed",
      phase: "restoring",
      error: { code: "pg_restore_failed", field: null, message: "pg_restore: error: could not create table" },
    });
    const { unmount } = render(RestoreOutcome, { props: { job: failed, destination: "Shop / staging" } });

    expect(screen.getByTestId("restore-headline")).toHaveTextContent("Restore into Shop / staging failed");
    expect(screen.getByTestId("restore-error")).toHaveTextContent("could not create table");
    expect(screen.getByTestId("restore-untouched")).toHaveTextContent("The destination was left as it was.");
    unmount();

    render(RestoreOutcome, { props: { job: { ...failed, phase: "checking-restored" } } });
    expect(screen.queryByTestId("restore-untouched")).not.toBeInTheDocument();
  });
});
