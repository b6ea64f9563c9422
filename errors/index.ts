export * from './base.js';
export * from './protocol.js';
export * from './task.js';
export * from './client.js';
export * from './from-reply.js';
export * from './shared.js';
export * from './channel.js';
