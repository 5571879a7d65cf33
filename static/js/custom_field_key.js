// The admin's "Add custom lead field": fills the key from the label as the key must be written
// (lower case letters, digits and _, starting with a letter: "Contract end date" ->
// contract_end_date). Accents are dropped and the letters with none to drop spelled out
// ("Größe" -> grosse, "m²" -> m2); a label starting with a digit gets "f_" in front
// ("2nd phone" -> f_2nd_phone) rather than losing the digit. Django's prepopulated_fields
// writes hyphens, which the key refuses. As Django's does, it fills only a key that was empty
// when the page loaded and stops once someone types in the key.
document.addEventListener("DOMContentLoaded", function () {
  var label = document.getElementById("id_label");
  var key = document.getElementById("id_key");
  if (!label || !key || key.value) {
    return;
  }
  var SPELLED = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "þ": "th"};
  var typed = false;
  key.addEventListener("input", function () {
    typed = true;
  });
  function fill() {
    if (typed) {
      return;
    }
    var value = label.value.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[ßæœøđłþ]/g, function (letter) { return SPELLED[letter]; })
      .replace(/[^a-z0-9]+/g, "_").replace(/^_+/, "");
    if (/^[0-9]/.test(value)) {
      value = "f_" + value;
    }
    key.value = value.slice(0, parseInt(key.getAttribute("maxlength"), 10) || 49)
      .replace(/_+$/, "");
  }
  label.addEventListener("input", fill);
  label.addEventListener("change", fill);
});
