export { planEffects, type ContainmentEntry, type Effects } from './plan-effects.js';
export { createEffectsApplier, type EffectsApplier, type EffectsDeps } from './apply-effects.js';
