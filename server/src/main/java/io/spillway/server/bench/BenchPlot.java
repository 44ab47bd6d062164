package io.spillway.server.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.ToDoubleFunction;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The serving benchmark's plot: latency (time to first token, inter-token, end to end; p50 and p99,
 * on a log scale) against the output throughput each offered load achieved. Rendered headless to PNG.
 */
public final class BenchPlot {

    private BenchPlot() {
    }

    public static void write(List<BenchResult> results, List<String> labels, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYSeriesCollection data = new XYSeriesCollection();
        for (int i = 0; i < results.size(); i++) {
            String prefix = results.size() > 1 ? labels.get(i) + " " : "";
            BenchResult r = results.get(i);
            data.addSeries(series(prefix + "TTFT p50", r, run -> run.ttftMs().p50()));
            data.addSeries(series(prefix + "TTFT p99", r, run -> run.ttftMs().p99()));
            data.addSeries(series(prefix + "ITL p50", r, run -> run.itlMs().p50()));
            data.addSeries(series(prefix + "E2E p50", r, run -> run.e2eMs().p50()));
            data.addSeries(series(prefix + "E2E p99", r, run -> run.e2eMs().p99()));
        }
        NumberAxis x = new NumberAxis("output tokens/s achieved");
        LogAxis y = new LogAxis("latency (ms, log scale)");
        y.setSmallestValue(0.1);
        // Tick labels as plain milliseconds, not powers of ten.
        y.setNumberFormatOverride(new java.text.DecimalFormat("#,##0.#"));
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
        for (int s = 0; s < data.getSeriesCount(); s++) {
            renderer.setSeriesStroke(s, new BasicStroke(2f));
        }
        XYPlot plot = new XYPlot(data, x, y, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        BenchResult first = results.get(0);
        JFreeChart chart = new JFreeChart(String.format("%s: latency vs throughput (%d prompt / %d output tokens)", first.model(),
                first.promptTokens(), first.outputTokens()), JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(png.toFile(), chart, 1000, 640);
    }

    private static XYSeries series(String name, BenchResult r, ToDoubleFunction<BenchResult.Run> latency) {
        XYSeries s = new XYSeries(name, false);
        for (BenchResult.Run run : r.runs()) {
            double v = latency.applyAsDouble(run);
            if (!Double.isNaN(v) && v > 0) {
                s.add(run.outputTokensPerSecond(), v);
            }
        }
        return s;
    }
}
