// Error and busy state shared by the app's forms and dialogs.
import { untrack } from "svelte";
import { isAppError } from "./api";
import type { ErrorCode } from "./bindings/ErrorCode";
import { errorDetail, splitError, type FieldErrors } from "./errors";
import { store } from "./state.svelte";

export class FormState {
  /** Inline errors by API field name. */
  errors = $state<FieldErrors>({});
  /** An error that belongs to no shown field, for an alert. */
  general = $state<string | null>(null);
  /** What the server said behind the last error, shown on request. */
  detail = $state<string | null>(null);
  /** The code of the last error, to say where it happened. */
  code = $state<ErrorCode | null>(null);
  busy = $state(false);

  /** `fields`: the API fields the form shows inline errors for. */
  constructor(private readonly fields: readonly string[]) {}

  /** Forgets errors and the busy flag, e.g. when a dialog opens again. */
  reset(): void {
    this.clear();
    this.busy = false;
  }

  clear(): void {
    this.errors = {};
    this.general = null;
    this.detail = null;
    this.code = null;
  }

  /** Checks the input with `validate` and shows its errors; true when there are any. */
  refuses(validate: () => FieldErrors | null): boolean {
    const invalid = validate();
    if (invalid) this.errors = invalid;
    return invalid !== null;
  }

  /** Shows a rejected command: inline under its field when the form has it, otherwise as `general`. */
  fail(e: unknown): void {
    this.general = this.failInline(e);
  }

  /**
   * Shows a rejected command's error inline when it is about a field the form has and returns
   * the message otherwise (null when shown inline), for callers that show it elsewhere.
   */
  failInline(e: unknown): string | null {
    const split = splitError(e, this.fields);
    this.errors = split.fields;
    this.detail = errorDetail(e);
    this.code = isAppError(e) ? e.code : null;
    return split.general;
  }

  /**
   * Clears the previous errors, checks the input with `validate` (errors to show, or null)
   * and, when it passes, runs `action` while `busy` is set; a rejection goes to `fail`.
   */
  async run(action: () => Promise<void>, validate?: () => FieldErrors | null): Promise<void> {
    this.clear();
    if (validate && this.refuses(validate)) return;
    this.busy = true;
    try {
      await action();
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
  }
}

/** Calls `reset` every time `isOpen` turns true, e.g. to empty a dialog's form. Call during component setup. */
export function resetOnOpen(isOpen: () => boolean, reset: () => void): void {
  let wasOpen = false;
  $effect.pre(() => {
    const open = isOpen();
    if (open && !wasOpen) untrack(reset);
    wasOpen = open;
  });
}

/**
 * Tells the store, while the calling component lives, whether it holds unsaved edits (leaving
 * the page then asks first). `name` is how the question names it. Call during component setup.
 */
export function trackUnsaved(key: string, name: string, isDirty: () => boolean): void {
  $effect(() => {
    store.markUnsaved(key, name, isDirty());
    return () => store.markUnsaved(key, name, false);
  });
}
