/**
 * Eviction policies for the engine's LRU surrogate of device memory (UVMSmart's eviction policies are the catalogue
 * to cover: LRU-4KB here first).
 */
package dev.hmm.policy.evict;
