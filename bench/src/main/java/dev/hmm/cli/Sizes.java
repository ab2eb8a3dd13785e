package dev.hmm.cli;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Byte sizes as people write them: {@code 4096}, {@code 1_000}, {@code 4KiB}, {@code 256MiB}, {@code 1GiB},
 * {@code 1TiB} (binary; {@code K}, {@code M}, {@code G}, {@code T}, {@code KB}... are read as the same binary units).
 */
public final class Sizes {
    private static final Pattern SIZE = Pattern.compile("(\\d[\\d_]*)\\s*([kmgt]?)(i?b)?", Pattern.CASE_INSENSITIVE);

    private Sizes() {
    }

    /**
     * Parses a size.
     *
     * @throws IllegalArgumentException naming the text and what was expected
     */
    public static long parse(String text) {
        Matcher m = SIZE.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + text + "' is not a size (expected bytes with an optional KiB, "
                    + "MiB, GiB or TiB suffix, e.g. 256MiB)");
        }
        long n;
        try {
            n = Long.parseLong(m.group(1).replace("_", ""));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is too large");
        }
        int shift = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            default -> 0;
        };
        if (n > (Long.MAX_VALUE >>> shift)) {
            throw new IllegalArgumentException("'" + text + "' is too large");
        }
        return n << shift;
    }

    /** Formats bytes with the largest binary unit that divides them (4096 -&gt; 4KiB), or with two decimals. */
    public static String format(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        int u = 0;
        long v = bytes;
        while (u < units.length - 1 && v >= 1024 && v % 1024 == 0) {
            v /= 1024;
            u++;
        }
        if (v >= 1024 * 10 && u < units.length - 1) {
            double d = bytes;
            int w = 0;
            while (w < units.length - 1 && d >= 1024) {
                d /= 1024;
                w++;
            }
            return String.format(Locale.ROOT, "%.2f%s", d, units[w]);
        }
        return v + units[u];
    }
}
