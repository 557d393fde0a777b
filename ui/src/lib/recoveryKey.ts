// Exporting and importing the recovery key through the native file dialogs, shared by Settings,
// the first-backup prompt, the Overview reminder and the welcome screen.
import { toast } from "svelte-sonner";
import * as api from "./api";
import { store } from "./state.svelte";

/**
 * Asks where to write the key and writes it. Resolves to true once it is saved; a cancelled
 * dialog resolves to false, a failure rejects with the command's error.
 */
export async function exportRecoveryKey(): Promise<boolean> {
  const path = await api.exportRecoveryKey();
  if (!path) return false;
  await store.refreshInfo();
  toast.success("Recovery key exported", {
    description: `Saved to ${path}. Keep it somewhere safe, away from this machine.`,
  });
  return true;
}

/** Asks for a key file and imports it. Resolves to true once imported, false when cancelled. */
export async function importRecoveryKey(): Promise<boolean> {
  const recipient = await api.importRecoveryKey();
  if (!recipient) return false;
  await store.refreshInfo();
  toast.success("Recovery key imported", {
    description: `Backups encrypted to ${recipient} can now be verified, downloaded and restored here; new backups use it too.`,
  });
  return true;
}
