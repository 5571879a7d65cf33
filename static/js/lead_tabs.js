// The lead page: after a form came back with errors, show the tab that holds them
// (the "Log call" tab is shown first otherwise, and the errors would stay hidden).
document.addEventListener("DOMContentLoaded", function () {
  var panes = document.querySelectorAll(".tab-content > .tab-pane");
  for (var i = 0; i < panes.length; i++) {
    var pane = panes[i];
    if (!pane.querySelector(".is-invalid, .invalid-feedback, .alert-block, .alert-danger")) {
      continue;
    }
    var button = document.querySelector('[data-bs-target="#' + pane.id + '"]');
    if (button && window.bootstrap) {
      window.bootstrap.Tab.getOrCreateInstance(button).show();
    }
    break;
  }
});
