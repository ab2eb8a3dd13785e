package dev.hmm.mm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Engine + device set-ups shared by the tests (the {@code FIXTURE(hmm)} of hmm-tests.c). */
final class Fixture implements AutoCloseable {
    static final int PAGE = 4096;

    final HmmEngine engine;
    final TestDriver driver;
    final Device device;
    final AddressSpace mm;

    Fixture(MemoryType type, long ramBytes, long deviceBytes) {
        this(EngineConfig.of(ramBytes), type, deviceBytes, 1);
    }

    Fixture(EngineConfig config, MemoryType type, long deviceBytes, int copyThreads) {
        this(config, type, deviceBytes, copyThreads, false);
    }

    /** As above; {@code asyncCopy}: the device's copy engine is asynchronous, so its migrations pipeline. */
    Fixture(EngineConfig config, MemoryType type, long deviceBytes, int copyThreads, boolean asyncCopy) {
        this.engine = HmmEngine.create(config);
        this.driver = new TestDriver("dev0", type, deviceBytes, copyThreads, null, asyncCopy);
        this.device = engine.attachDevice(driver);
        this.mm = engine.createAddressSpace();
    }

    Device addDevice(String name, MemoryType type, long bytes) {
        return engine.attachDevice(new TestDriver(name, type, bytes, 1));
    }

    /** Writes int i at byte 4*i over {@code bytes} bytes from the CPU (the {@code ptr[i] = i} of hmm-tests). */
    void fillInts(long va, int bytes, int bias) {
        byte[] b = new byte[bytes];
        MemorySegment s = MemorySegment.ofArray(b);
        for (int i = 0; i < bytes / 4; i++) {
            s.set(ValueLayout.JAVA_INT_UNALIGNED, 4L * i, i + bias);
        }
        mm.write(va, b);
    }

    static void assertInts(byte[] b, int bias) {
        MemorySegment s = MemorySegment.ofArray(b);
        for (int i = 0; i < b.length / 4; i++) {
            int v = s.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
            if (v != i + bias) {
                throw new AssertionError("int " + i + " is " + v + ", expected " + (i + bias));
            }
        }
    }

    /** Checks ints of a buffer that starts at int index {@code firstInt}: int k holds firstInt + k + bias. */
    static void assertIntsAt(byte[] b, int firstInt, int bias) {
        MemorySegment s = MemorySegment.ofArray(b);
        for (int i = 0; i < b.length / 4; i++) {
            int v = s.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
            if (v != firstInt + i + bias) {
                throw new AssertionError("int " + (firstInt + i) + " is " + v + ", expected " + (firstInt + i + bias));
            }
        }
    }

    @Override
    public void close() {
        engine.close();
    }
}
