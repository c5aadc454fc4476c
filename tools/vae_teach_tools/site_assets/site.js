// The reading edition's script: typesets the formulas with the bundled KaTeX and plays the
// offline widgets (pictures precomputed when the site was built, swapped on every move).
(function () {
  "use strict";
  var MATH = {
    delimiters: [
      {left: "$$", right: "$$", display: true},
      {left: "\\[", right: "\\]", display: true},
      {left: "\\begin{equation}", right: "\\end{equation}", display: true},
      {left: "\\begin{equation*}", right: "\\end{equation*}", display: true},
      {left: "\\begin{align}", right: "\\end{align}", display: true},
      {left: "\\begin{align*}", right: "\\end{align*}", display: true},
      {left: "$", right: "$", display: false},
      {left: "\\(", right: "\\)", display: false}
    ],
    ignoredClasses: ["vt-nomath"],
    throwOnError: false
  };

  function typeset(element) {
    if (window.renderMathInElement && element) window.renderMathInElement(element, MATH);
  }

  function plainText(html) {
    var div = document.createElement("div");
    div.innerHTML = html || "";
    return div.textContent.replace(/\s+/g, " ").trim();
  }

  function setUpWidget(box) {
    var data = JSON.parse(box.querySelector("script.vt-frames").textContent);
    var image = box.querySelector("img.vt-widget-image");
    var status = box.querySelector(".vt-status");
    var comboNote = box.querySelector(".vt-combo-note");
    var inputs = Array.prototype.slice.call(box.querySelectorAll("[data-control]"));
    var current = data.start.slice();

    function readout(i) {
      var out = inputs[i].parentNode.querySelector("output");
      if (out) out.textContent = data.controls[i].labels[current[i]];
    }
    function show() {
      var frame = data.frames[current.join(",")];
      image.src = data.base + frame[0];
      var settings = data.controls.map(function (c, i) {
        return c.description + " = " + c.labels[current[i]];
      }).join(", ");
      image.alt = data.title + " (" + settings + ")" + (frame[1] ? ": " + plainText(frame[1]) : "");
      if (status) { status.innerHTML = frame[1] || ""; typeset(status); }
    }
    inputs.forEach(function (input, i) {
      input.addEventListener("input", function () {
        current[i] = parseInt(input.value, 10);
        if (!(current.join(",") in data.frames)) {
          // not precomputed: the other controls go back to their starting positions
          current.forEach(function (_, j) {
            if (j !== i) { current[j] = data.start[j]; inputs[j].value = String(data.start[j]); readout(j); }
          });
          if (comboNote) comboNote.hidden = false;
        }
        readout(i);
        show();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    typeset(document.querySelector("main") || document.body);
    Array.prototype.forEach.call(document.querySelectorAll(".vt-widget[data-offline]"), setUpWidget);
  });
})();
