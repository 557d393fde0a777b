import "@testing-library/jest-dom/vitest";

// jsdom lacks what bits-ui's Select uses while it opens and highlights items.
Element.prototype.hasPointerCapture ??= () => false;
Element.prototype.releasePointerCapture ??= () => {};
Element.prototype.scrollIntoView ??= () => {};
