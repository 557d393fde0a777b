// Taking the user to the form field an error is about, wherever on the page it is.

/** What each field an error can name is called in a sentence. */
export const FIELD_NAMES: Record<string, string> = {
  host: "host",
  port: "port",
  user: "user",
  password: "password",
  database: "database",
  sslMode: "SSL mode",
  sslRootCert: "CA certificate file",
  mediaDir: "media directory",
  targetId: "storage target",
};

/**
 * Scrolls to the control of `field` (its id starts with the field's name, see FieldShell) and
 * focuses it. False when no such control is on the page.
 */
export function focusField(field: string): boolean {
  const control = document.querySelector<HTMLElement>(`[id^="${field}-"]`);
  if (!control) return false;
  control.scrollIntoView({ block: "center", behavior: "smooth" });
  control.focus({ preventScroll: true });
  return true;
}
