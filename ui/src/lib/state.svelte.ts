// Tiny app-wide store: the loaded application tree, storage targets, app info and
// which screen is shown.
import * as api from "./api";
import type { AppInfo } from "./bindings/AppInfo";
import type { ApplicationTree } from "./bindings/ApplicationTree";
import type { Environment } from "./bindings/Environment";
import type { StorageTarget } from "./bindings/StorageTarget";

export type View =
  | { kind: "home" }
  | { kind: "application"; id: string }
  | { kind: "environment"; id: string }
  | { kind: "targets" }
  | { kind: "settings" };

class AppStore {
  tree = $state<ApplicationTree[]>([]);
  targets = $state<StorageTarget[]>([]);
  info = $state<AppInfo | null>(null);
  view = $state<View>({ kind: "home" });
  loaded = $state(false);
  loadError = $state<string | null>(null);

  selectedApplication = $derived.by((): ApplicationTree | null => {
    const v = this.view;
    if (v.kind === "application") return this.tree.find((a) => a.id === v.id) ?? null;
    if (v.kind === "environment") {
      return this.tree.find((a) => a.environments.some((e) => e.id === v.id)) ?? null;
    }
    return null;
  });

  selectedEnvironment = $derived.by((): Environment | null => {
    const v = this.view;
    if (v.kind !== "environment") return null;
    for (const a of this.tree) {
      const env = a.environments.find((e) => e.id === v.id);
      if (env) return env;
    }
    return null;
  });

  async init(): Promise<void> {
    await Promise.all([this.refreshInfo(), this.refresh(), this.refreshTargets()]);
  }

  async refresh(): Promise<void> {
    try {
      this.tree = await api.listApplications();
      this.loadError = null;
    } catch (e) {
      this.loadError = api.errorMessage(e);
    } finally {
      this.loaded = true;
    }
    this.fixView();
  }

  async refreshTargets(): Promise<void> {
    try {
      this.targets = await api.listTargets();
    } catch (e) {
      this.loadError = api.errorMessage(e);
    }
  }

  async refreshInfo(): Promise<void> {
    try {
      this.info = await api.appInfo();
    } catch {
      this.info = null;
    }
  }

  /** Replaces one environment in the tree after an update, without a full reload. */
  replaceEnvironment(env: Environment): void {
    this.tree = this.tree.map((a) =>
      a.id !== env.applicationId
        ? a
        : {
            ...a,
            environments: a.environments
              .map((e) => (e.id === env.id ? env : e))
              .sort((x, y) => x.name.localeCompare(y.name)),
          },
    );
  }

  selectApplication(id: string): void {
    this.view = { kind: "application", id };
  }

  selectEnvironment(id: string): void {
    this.view = { kind: "environment", id };
  }

  show(view: View): void {
    this.view = view;
  }

  /**
   * If the selected application or environment disappeared, fall back to something sensible;
   * "home" shows the first application, or the empty state when there is none.
   */
  private fixView(): void {
    const v = this.view;
    if (v.kind === "application" && !this.tree.some((a) => a.id === v.id)) {
      this.view = { kind: "home" };
    } else if (
      v.kind === "environment" &&
      !this.tree.some((a) => a.environments.some((e) => e.id === v.id))
    ) {
      this.view = { kind: "home" };
    }
    if (this.view.kind === "home" && this.tree.length > 0) {
      this.view = { kind: "application", id: this.tree[0].id };
    }
  }
}

export const store = new AppStore();
