package dev.hmm.cli;

import picocli.CommandLine;

/** picocli converter for counts that accepts {@code 1_000_000} and {@code 10M}-style suffixes (decimal: K, M, G). */
public final class CountConverter implements CommandLine.ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        String v = value.trim().replace("_", "");
        long mult = 1;
        if (!v.isEmpty()) {
            switch (Character.toUpperCase(v.charAt(v.length() - 1))) {
                case 'K' -> mult = 1_000L;
                case 'M' -> mult = 1_000_000L;
                case 'G' -> mult = 1_000_000_000L;
                default -> mult = 1;
            }
            if (mult != 1) {
                v = v.substring(0, v.length() - 1);
            }
        }
        try {
            return Math.multiplyExact(Long.parseLong(v), mult);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new CommandLine.TypeConversionException("'" + value + "' is not a count (expected e.g. 1000, "
                    + "1_000_000 or 10M)");
        }
    }
}
