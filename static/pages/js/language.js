// The header's language switcher. It is a plain POST form to Django's set_language, which works
// without this script and sets the language cookie; on a page where someone is logged in, the choice
// is first saved to their account (PATCH /api/me/), so SMS, emails and their other devices follow it.
import { LoggedOut, api, isLoggedIn } from "./api.js";

const form = document.getElementById("language-form");

form?.addEventListener("submit", async (event) => {
  if (!isLoggedIn()) return; // the login page: the cookie alone
  event.preventDefault();
  const language = form.elements.language.value;
  try {
    await api("/api/me/", { method: "PATCH", body: { language } });
  } catch (error) {
    if (error instanceof LoggedOut) return; // the page is on its way to /login/
    // Offline or refused: this device still switches; the account keeps its earlier choice.
  }
  form.submit();
});
