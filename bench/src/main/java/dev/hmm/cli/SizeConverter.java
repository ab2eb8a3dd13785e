package dev.hmm.cli;

import picocli.CommandLine;

/** picocli converter for sizes ({@link Sizes}); a bad value becomes one line naming the option. */
public final class SizeConverter implements CommandLine.ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        try {
            return Sizes.parse(value);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }
}
