/**
 * The engine core, after Linux {@code mm/}: one flat package as the kernel's is one directory, each class named for
 * the concept it models so that a reader who knows Linux mm finds it where its name says.
 *
 * <pre>
 *  Linux                                   here
 *  struct page / folio, page flags         {@link dev.hmm.mm.FrameTable}, {@link dev.hmm.mm.PageState}
 *  pfn, node id                            {@link dev.hmm.mm.Pfn}, {@link dev.hmm.mm.MemoryNode}
 *  pte_t, swap/migration/device entries    {@link dev.hmm.mm.Pte}
 *  page table walk (pgd/pud/pmd/pte)       {@link dev.hmm.mm.PageTable}
 *  mm_struct, vm_area_struct               {@link dev.hmm.mm.AddressSpace}, {@link dev.hmm.mm.Vma}
 *  handle_mm_fault / do_swap_page          {@link dev.hmm.mm.CpuFaultHandler}
 *  migration_entry_wait, folio_wait_table  {@link dev.hmm.mm.PageWaitTable}
 *  TLB shootdown (flush_tlb_range)         {@link dev.hmm.mm.Tlb}
 *  mm/migrate_device.c: migrate_vma_*      {@link dev.hmm.mm.MigrateVma}, {@link dev.hmm.mm.MigratePfn}
 *  struct dev_pagemap, memory_type         {@link dev.hmm.mm.DevicePagemap}, {@link dev.hmm.mm.MemoryType}
 *  mmu_interval_notifier, notifier range    {@link dev.hmm.mm.MmuIntervalNotifier}, {@link dev.hmm.mm.MmuNotifierRange}
 *  hmm_range_fault, struct hmm_range       {@link dev.hmm.mm.HmmRangeFault}, {@link dev.hmm.mm.HmmRange}
 *  a device page table (dmirror-&gt;pt)      {@link dev.hmm.mm.DeviceMirror}
 *  UVM replayable fault buffer, batches    {@link dev.hmm.mm.FaultBuffer}, {@link dev.hmm.mm.FaultBatch}
 *  a device driver (lib/test_hmm.c)        {@link dev.hmm.mm.DeviceDriver} SPI, {@link dev.hmm.mm.Device}
 * </pre>
 */
package dev.hmm.mm;
