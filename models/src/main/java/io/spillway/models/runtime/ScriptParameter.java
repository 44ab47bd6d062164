package io.spillway.models.runtime;

/**
 * One parameter of a TorchScript method as declared: its name and its type annotation, written as
 * TorchScript writes it ({@code List[Tuple[Tensor, int]]}).
 */
public record ScriptParameter(String name, String type) {

    @Override
    public String toString() {
        return name + ": " + type;
    }
}
