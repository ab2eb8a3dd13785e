package dev.hmm.mm;

/**
 * A CPU fault on a device-private page, as handed to {@link DevicePagemap.Ops#migrateToRam} ({@code struct vm_fault}
 * of {@code do_swap_page}).
 *
 * @param mm the faulting address space
 * @param address the faulting virtual address
 * @param pfn the device-private frame the entry named ({@code vmf->page})
 * @param access what the CPU was doing
 */
public record VmFault(AddressSpace mm, long address, long pfn, AccessType access) {
}
