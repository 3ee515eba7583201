// The only script: a revealed location goes hidden again on its own.
document.querySelectorAll('[data-hide-after]').forEach(function (el) {
  setTimeout(function () { el.textContent = el.getAttribute('data-masked'); el.classList.add('masked'); },
    1000 * parseInt(el.getAttribute('data-hide-after'), 10));
});
