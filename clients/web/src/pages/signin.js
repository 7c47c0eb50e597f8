// @ts-check
// The sign-in screen, shown by the shell (main.js) whenever whoami answers that nobody is
// signed in. Not a navigation page. It posts `account_login` from the page, so the browser
// sends its Origin (the server's CSRF rule) and the server answers with the HttpOnly session
// cookie; the console never sees or stores a token. A refusal shows the server's own message.

import { h, mount } from "../dom.js";

/**
 * @param {{
 *   client: { call: (method: any, params?: any) => Promise<any> },
 *   errorBox: (error: unknown) => HTMLElement,
 *   message?: string,
 *   onSignedIn: () => void | Promise<void>,
 * }} options
 */
export function renderSignIn({ client, errorBox, message, onSignedIn }) {
  const username = h("input", { id: "signin-username", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "signin-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const errors = h("div", { class: "form-errors" });
  const submit = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "btn btn-primary" }, "Sign in"));
  /** @param {Event} event */
  const signIn = async (event) => {
    event.preventDefault();
    mount(errors);
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      await client.call("account_login", {
        username: /** @type {HTMLInputElement} */ (username).value,
        password: /** @type {HTMLInputElement} */ (password).value,
      });
    } catch (error) {
      mount(errors, errorBox(error));
      submit.disabled = false;
      submit.textContent = "Sign in";
      /** @type {HTMLInputElement} */ (password).select();
      return;
    }
    await onSignedIn();
  };
  return h(
    "main",
    { class: "signin" },
    h(
      "form",
      { class: "card signin-card", onsubmit: signIn, "aria-labelledby": "signin-title" },
      h("p", { class: "brand brand-large" }, "countersign"),
      h("h1", { id: "signin-title" }, "Sign in"),
      message && h("p", { class: "callout callout-info", role: "status" }, message),
      h("div", { class: "field" }, h("label", { for: "signin-username" }, "Username"), username),
      h("div", { class: "field" }, h("label", { for: "signin-password" }, "Password"), password),
      errors,
      h("div", { class: "form-actions" }, submit),
    ),
  );
}
