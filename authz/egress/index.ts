export { loadBaaRegistry, createBaaRegistry, matchesPattern, BaaRegistrySchema, type BaaRegistry, type BaaRegistryDoc, type Coverage, type LoadBaaResult } from './baa-registry.js';
