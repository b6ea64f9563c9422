/**
 * Views: how work is addressed. A DirectView sends each call to every one of
 * its engines (client/direct-view.ts); a LoadBalancedView lets the
 * controller's scheduler pick one (client/lb-view.ts).
 */
export { View } from './view.js';
export type { MapOptions, PerTarget } from './view.js';
export { LoadBalancedView } from './lb-view.js';
export { DirectView } from './direct-view.js';
