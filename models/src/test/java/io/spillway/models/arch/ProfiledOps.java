package io.spillway.models.arch;

import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

/**
 * The operators libtorch ran during a piece of work (aten's, and the {@code mkldnn::},
 * {@code quantized::} and Spillway's own {@code spillway::} ones the script calls), read from its
 * own profiler's trace (the legacy autograd profiler DJL switches on, which records every operator
 * the dispatcher runs, with its nesting). Two counts matter for a GPU: operators the interpreter dispatches (each is a trip
 * through the dispatcher, Python-free but not free) and kernels, the operators that compute
 * (leaves of the nesting that are not views or allocations; on a GPU each is a launch).
 *
 * @param dispatched operators called by the script itself, not from inside another operator
 * @param kernels    computing leaf operators, by name
 */
record ProfiledOps(int dispatched, TreeMap<String, Integer> kernels) {

    /** Operators that only make a view, query metadata or allocate: no kernel runs for them. */
    private static final Set<String> NO_KERNEL = Set.of("aten::as_strided", "aten::slice", "aten::narrow", "aten::view",
            "aten::transpose", "aten::t", "aten::reshape", "aten::_reshape_alias", "aten::unsqueeze", "aten::squeeze",
            "aten::expand", "aten::select", "aten::permute", "aten::empty", "aten::empty_strided", "aten::empty_like",
            "aten::resolve_conj", "aten::resolve_neg", "aten::result_type", "aten::_unsafe_view", "aten::alias",
            "aten::detach", "aten::size", "aten::numel", "aten::dim", "aten::is_nonzero", "aten::item",
            "aten::_local_scalar_dense", "aten::resize_", "aten::split", "aten::chunk", "aten::unbind",
            "aten::expand_as", "aten::view_as", "aten::contiguous", "aten::lift_fresh", "aten::scalar_tensor", "aten::set_",
            // A conversion to the dtype a tensor has returns it; a real one calls copy_, which counts.
            "aten::to", "aten::_to_copy", "aten::type_as");

    int kernelCount() {
        return kernels.values().stream().mapToInt(Integer::intValue).sum();
    }

    /**
     * Runs {@code work} under libtorch's profiler and counts what it ran. The trace DJL writes does
     * not tell threads apart: {@code work} must run its operators on the calling thread alone (the
     * interpreter does; libtorch's intra-op threads run kernels, not operators).
     */
    static ProfiledOps of(Runnable work) {
        return count(trace(work, false));
    }

    /**
     * The leading sizes (rows) of the first argument, a tensor, {@code operator} was given each time
     * it ran during {@code work}, in order; {@code arity} is how many arguments its schema takes. As
     * {@link #of}, on the calling thread alone.
     */
    static List<Long> firstInputRows(Runnable work, String operator, int arity) {
        List<JsonNode> calls = new ArrayList<>();
        for (JsonNode e : trace(work, true)) {
            if (e.path("name").asText().equals(operator)) {
                calls.add(e);
            }
        }
        // By start time: the trace lists events as they end, and start order is call order.
        calls.sort(Comparator.comparingDouble(e -> e.path("ts").asDouble()));
        // The legacy profiler lists a shape per value on the interpreter's stack (empty for a
        // non-tensor), the operator's own arguments last: values below them (a residual the script
        // adds the result to) come first.
        return calls.stream().map(e -> {
            JsonNode shapes = e.path("shape");
            JsonNode first = shapes.size() < arity ? null : shapes.path(shapes.size() - arity);
            if (first == null || first.isEmpty()) {
                throw new IllegalStateException("the trace gives no shape for the first of " + arity + " arguments in " + e);
            }
            return first.path(0).asLong();
        }).toList();
    }

    private static JsonNode trace(Runnable work, boolean recordShapes) {
        try {
            Path trace = Files.createTempFile("spillway-ops", ".json");
            try {
                JniUtils.startProfile(false, recordShapes, false);
                try {
                    work.run();
                } finally {
                    JniUtils.stopProfile(trace.toString());
                }
                JsonNode root = new ObjectMapper().readTree(trace.toFile());
                return root.isArray() ? root : root.path("traceEvents");
            } finally {
                Files.deleteIfExists(trace);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private record Event(String name, double start, double end, int listed) {
        boolean isOperator() {
            return name.startsWith("aten::") || name.startsWith("mkldnn::") || name.startsWith("quantized::") || name.startsWith("spillway::");
        }

        boolean contains(Event other) {
            return start <= other.start && other.end <= end;
        }
    }

    private static ProfiledOps count(JsonNode events) {
        List<Event> all = new ArrayList<>();
        for (JsonNode e : events) {
            double ts = e.path("ts").asDouble();
            all.add(new Event(e.path("name").asText(), ts, ts + e.path("dur").asDouble(), all.size()));
        }
        // Parents first: earlier start, and at the same start the longer one. The trace lists an
        // event when it ends, children before their parent, so on an exact tie the later one is
        // the parent.
        all.sort(Comparator.comparingDouble(Event::start).thenComparing(Comparator.comparingDouble(Event::end).reversed())
                .thenComparing(Comparator.comparingInt(Event::listed).reversed()));
        int dispatched = 0;
        Map<Event, Event> operatorParent = new IdentityHashMap<>();
        List<Event> operators = new ArrayList<>();
        Deque<Event> open = new ArrayDeque<>();
        for (Event e : all) {
            while (!open.isEmpty() && !open.peek().contains(e)) {
                open.pop();
            }
            if (e.isOperator()) {
                Event parent = open.stream().filter(Event::isOperator).findFirst().orElse(null);
                if (parent == null) {
                    dispatched++;
                } else {
                    operatorParent.put(e, parent);
                }
                operators.add(e);
            }
            open.push(e);
        }
        // A kernel is an operator that computes and calls no operator that does: children come
        // after their parents, so walking backwards settles every child before its parent.
        Set<Event> computingBelow = Collections.newSetFromMap(new IdentityHashMap<>());
        TreeMap<String, Integer> kernels = new TreeMap<>();
        for (int i = operators.size() - 1; i >= 0; i--) {
            Event e = operators.get(i);
            boolean computes = !NO_KERNEL.contains(e.name());
            if (computes && !computingBelow.contains(e)) {
                kernels.merge(e.name(), 1, Integer::sum);
            }
            Event parent = operatorParent.get(e);
            if (parent != null && (computes || computingBelow.contains(e))) {
                computingBelow.add(parent);
            }
        }
        return new ProfiledOps(dispatched, kernels);
    }

    /** What {@code more} ran beyond {@code less}, divided by {@code times} (the per-layer share of a deeper model). */
    static ProfiledOps difference(ProfiledOps more, ProfiledOps less, int times) {
        TreeMap<String, Integer> kernels = new TreeMap<>();
        more.kernels.forEach((k, v) -> kernels.put(k, v - less.kernels.getOrDefault(k, 0)));
        less.kernels.forEach((k, v) -> kernels.putIfAbsent(k, -v));
        kernels.replaceAll((k, v) -> {
            if (v % times != 0) {
                throw new IllegalStateException(k + " ran " + v + " more times, not a multiple of " + times);
            }
            return v / times;
        });
        kernels.values().removeIf(v -> v == 0);
        int dispatched = more.dispatched - less.dispatched;
        if (dispatched % times != 0) {
            throw new IllegalStateException(dispatched + " more dispatched operators, not a multiple of " + times);
        }
        return new ProfiledOps(dispatched / times, kernels);
    }
}
