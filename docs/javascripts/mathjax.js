// MathJax for pymdownx.arithmatex (generic mode): $...$ and $$...$$ in pages and docstrings.
// MathJax itself is served by the site (javascripts/mathjax/, mkdocs_hooks/offline_mathjax.py).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

// MathJax typesets the page it is loaded with. Only a page swapped in by Material's instant
// navigation needs typesetting again; doing it for the first page would clear the CSS of
// the characters already typeset (clearCache) and typeset nothing new: blank formulas.
let firstPage = true;
document$.subscribe(() => {
  if (firstPage) {
    firstPage = false;
    return;
  }
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
