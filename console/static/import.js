// dirsync console: the import page's drop zone. Dropping a CSV file on the
// box puts it into the form's file input and sends the form, as choosing the
// file and pressing Import does; without JavaScript the form works the same
// way with the button. Listeners sit on the document (capture phase), so the
// page works however it was loaded, and loading this file twice is harmless.
(function () {
  "use strict";
  if (window.dirsyncImportDrop) return;
  window.dirsyncImportDrop = true;

  function zoneOf(ev) {
    return ev.target && ev.target.closest ? ev.target.closest("[data-dropzone]") : null;
  }
  function hasFiles(ev) {
    var dt = ev.dataTransfer;
    if (!dt) return false;
    if (dt.files && dt.files.length) return true;
    return Array.prototype.indexOf.call(dt.types || [], "Files") >= 0;
  }

  ["dragenter", "dragover"].forEach(function (type) {
    document.addEventListener(type, function (ev) {
      if (!hasFiles(ev) || !document.querySelector("[data-dropzone]")) return;
      ev.preventDefault(); // allow the drop (and keep the browser from opening the file)
      var zone = zoneOf(ev);
      if (zone) {
        zone.classList.add("over");
        if (ev.dataTransfer) ev.dataTransfer.dropEffect = "copy";
      } else if (ev.dataTransfer) {
        ev.dataTransfer.dropEffect = "none";
      }
    }, true);
  });

  document.addEventListener("dragleave", function (ev) {
    var zone = zoneOf(ev);
    if (zone && !zone.contains(ev.relatedTarget)) zone.classList.remove("over");
  }, true);

  document.addEventListener("drop", function (ev) {
    if (!hasFiles(ev) || !document.querySelector("[data-dropzone]")) return;
    ev.preventDefault();
    var zone = zoneOf(ev);
    if (!zone) return; // dropped beside the box: ignored
    zone.classList.remove("over");
    var file = ev.dataTransfer.files[0];
    var input = zone.querySelector("input[type=file]");
    var form = zone.closest("form");
    if (!file || !input || !form) return;
    var dt = new DataTransfer();
    dt.items.add(file);
    input.files = dt.files;
    var status = zone.querySelector("[role=status]");
    if (status) status.textContent = "Importing " + file.name + "…";
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.submit();
  }, true);
})();
