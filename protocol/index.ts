export * from './wire.js';
export * from './signing.js';
export * from './messages.js';
export * from './session.js';
export * from './serialize.js';
export * from './functions.js';
export * from './socket.js';
export * from './packing.js';
