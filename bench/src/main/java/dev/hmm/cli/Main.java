package dev.hmm.cli;

import dev.hmm.sim.BadInputException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code hmm} command line. Exit codes: 0 success, 1 a run that lost data or broke an invariant (or an internal
 * error), 2 bad input (one line naming the input and what was expected, no stack trace).
 *
 * {@snippet lang = "shell" :
 * ./hmm simulate --workload pingpong --footprint 256MiB --device-memory 512MiB --json out.json
 * }
 */
@Command(name = "hmm", mixinStandardHelpOptions = true, version = "hmm 0.1.0",
        description = "Heterogeneous memory management engine: page migration between RAM and device memory.",
        subcommands = {SimulateCommand.class, BenchCommand.class, PoliciesCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    public static final int EXIT_OK = 0;
    public static final int EXIT_FAILED = 1;
    public static final int EXIT_BAD_INPUT = 2;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(),
                "missing subcommand (expected one of: " + String.join(", ", spec.subcommands().keySet()) + ")");
    }

    public static void main(String[] args) {
        System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs the command line with the given streams; returns the exit code (for tests and embedding). */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, a) -> {
            String cmd = ex.getCommandLine().getCommandSpec().qualifiedName();
            ex.getCommandLine().getErr().println(cmd + ": " + firstLine(ex.getMessage()) + " (see '" + cmd
                    + " --help')");
            return EXIT_BAD_INPUT;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            String cmd = c.getCommandSpec().qualifiedName();
            if (ex instanceof BadInputException) {
                c.getErr().println(cmd + ": " + firstLine(ex.getMessage()));
                return EXIT_BAD_INPUT;
            }
            c.getErr().println(cmd + ": internal error: " + ex);
            ex.printStackTrace(c.getErr());
            return EXIT_FAILED;
        });
        return cl.execute(args);
    }

    static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }
}
