/**
 * The simulated device: device memory of any capacity and type in off-heap memory (or none, for the METADATA data
 * plane), copied by a multi-threaded CPU copy engine. Runs on every machine; the default device of
 * {@code ./hmm simulate}.
 */
package dev.hmm.device.sim;
