// Preloaded into a process (`node --import ./test/skew-clock.mjs ...`) to run its clock
// FAULT_CLOCK_SKEW_MS ahead (or behind): Date.now() and new Date() both, as on a machine
// whose clock is off. Tests only; the product has no such switch.
const skew = Number(process.env.FAULT_CLOCK_SKEW_MS ?? 0);
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
class SkewedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(realNow() + skew);
    else super(...args);
  }
  static now() {
    return realNow() + skew;
  }
}
globalThis.Date = SkewedDate;
