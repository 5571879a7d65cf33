// The admin's "Add custom lead field": fills the key from the label as the key must be written
// (lower case letters, digits and _, starting with a letter: "Contract end date" ->
// contract_end_date). Django's prepopulated_fields writes hyphens, which the key refuses. As
// Django's does, it fills only a key that was empty when the page loaded and stops once
// someone types in the key.
document.addEventListener("DOMContentLoaded", function () {
  var label = document.getElementById("id_label");
  var key = document.getElementById("id_key");
  if (!label || !key || key.value) {
    return;
  }
  var typed = false;
  key.addEventListener("input", function () {
    typed = true;
  });
  function fill() {
    if (typed) {
      return;
    }
    key.value = label.value.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "_").replace(/^[^a-z]+/, "")
      .slice(0, parseInt(key.getAttribute("maxlength"), 10) || 49).replace(/_+$/, "");
  }
  label.addEventListener("input", fill);
  label.addEventListener("change", fill);
});
