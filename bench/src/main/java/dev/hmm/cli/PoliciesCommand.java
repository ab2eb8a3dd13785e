package dev.hmm.cli;

import dev.hmm.policy.PolicyRegistry;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code hmm policies}: lists the policies the engine can run, by family.
 *
 * {@snippet lang = "shell" :
 * ./hmm policies
 * }
 */
@Command(name = "policies", mixinStandardHelpOptions = true, description = "List the available policies.")
public final class PoliciesCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        var out = spec.commandLine().getOut();
        out.println("eviction (--eviction NAME):");
        for (PolicyRegistry.Entry e : PolicyRegistry.evictionPolicies().values()) {
            out.printf("  %-12s %s%n", e.name(), e.description());
        }
        out.printf("  %-12s %s%n", "none", "no eviction: a full device maps the rest remotely");
        return Main.EXIT_OK;
    }
}
