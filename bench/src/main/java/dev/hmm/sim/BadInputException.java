package dev.hmm.sim;

/**
 * Input that cannot be run: an impossible configuration, a malformed trace, a file that vanished. The command line
 * prints its message as one line and exits with code 2.
 */
public final class BadInputException extends RuntimeException {
    private final String input;

    /**
     * @param input the option or file at fault, e.g. {@code --footprint}
     * @param message what is wrong and what was expected
     */
    public BadInputException(String input, String message) {
        super(input + ": " + message);
        this.input = input;
    }

    public String input() {
        return input;
    }
}
