package dev.hmm.policy;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/** Names a policy implementation (lower-case, {@code family.Name} style, e.g. {@code lru}, {@code sampled.lru}). */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface PolicySpec {
    /** The name used on the command line and in reports. */
    String name();

    /** One line for {@code ./hmm policies}. */
    String description() default "";
}
