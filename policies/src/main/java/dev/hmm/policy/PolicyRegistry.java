package dev.hmm.policy;

import dev.hmm.policy.evict.FifoPolicy;
import dev.hmm.policy.evict.LruPolicy;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The policies this module ships, by name: an explicit registry readable in one screen (Caffeine's simulator
 * {@code Registry}), no class-path scanning. Names come from {@link PolicySpec}, lower-cased; a blank or duplicate
 * name fails at start-up.
 */
public final class PolicyRegistry {
    private static final Map<String, Entry> EVICTION = new LinkedHashMap<>();

    /** A registered eviction policy. */
    public record Entry(String name, String description, EvictionPolicy.Factory factory) {
    }

    static {
        registerEviction(LruPolicy.class, LruPolicy::new);
        registerEviction(FifoPolicy.class, FifoPolicy::new);
    }

    private PolicyRegistry() {
    }

    private static void registerEviction(Class<? extends EvictionPolicy> type, EvictionPolicy.Factory factory) {
        PolicySpec spec = type.getAnnotation(PolicySpec.class);
        if (spec == null || spec.name().isBlank()) {
            throw new IllegalStateException(type.getName() + " needs a @PolicySpec with a name");
        }
        String name = spec.name().toLowerCase(Locale.ROOT);
        if (EVICTION.putIfAbsent(name, new Entry(name, spec.description(), factory)) != null) {
            throw new IllegalStateException("two eviction policies are named " + name);
        }
    }

    /** Every eviction policy, in registration order. */
    public static Map<String, Entry> evictionPolicies() {
        return Collections.unmodifiableMap(EVICTION);
    }

    /**
     * The eviction policy named {@code name} (case-insensitive).
     *
     * @throws IllegalArgumentException naming the known policies
     */
    public static EvictionPolicy.Factory eviction(String name) {
        Entry e = EVICTION.get(name.toLowerCase(Locale.ROOT));
        if (e == null) {
            throw new IllegalArgumentException("unknown eviction policy '" + name + "' (expected one of "
                    + String.join(", ", EVICTION.keySet()) + ", or none)");
        }
        return e.factory();
    }
}
