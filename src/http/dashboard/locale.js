// Browsers on a machine with a POSIX locale report navigator.language as "en-US@posix",
// which Intl refuses; the charts format numbers and dates with Intl, so use the plain tag.
try {
  new Intl.NumberFormat(navigator.language);
} catch {
  const tag = (navigator.language || '').replace(/@.*$/, '') || 'en-US';
  Object.defineProperty(navigator, 'language', { value: tag, configurable: true });
  Object.defineProperty(navigator, 'languages', { value: [tag], configurable: true });
}
