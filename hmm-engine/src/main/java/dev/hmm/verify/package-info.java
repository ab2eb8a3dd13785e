/**
 * Data-integrity checking for workloads and tests: a shadow copy of an address range that records every write and
 * checks every read byte for byte, with per-page claims so that a check never races with a write of the same page.
 */
package dev.hmm.verify;
