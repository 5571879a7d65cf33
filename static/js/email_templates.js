// The lead page's Email tab: picking a template fills the subject and the body with its text,
// already filled in for this lead on the server; the rep can still edit both before sending.
document.addEventListener("DOMContentLoaded", function () {
  var picker = document.getElementById("email-template");
  if (!picker) {
    return;
  }
  var form = picker.closest("form");
  var template = form.querySelector("[name=template]");
  picker.addEventListener("change", function () {
    var chosen = picker.options[picker.selectedIndex];
    // Sent from a template, the email carries the one-click unsubscribe headers.
    template.value = chosen ? chosen.value : "";
    if (!chosen || !chosen.value) {
      return;
    }
    form.querySelector("[name=subject]").value = chosen.getAttribute("data-subject");
    form.querySelector("[name=body]").value = chosen.getAttribute("data-body");
  });
});
