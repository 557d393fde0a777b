// Svelte 5 understands TypeScript natively; no preprocessors needed.
export default {};
