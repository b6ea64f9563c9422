export * from './paths.js';
export * from './jsonfile.js';
export * from './connection.js';
export * from './config.js';
export * from './running.js';
export * from './state.js';
