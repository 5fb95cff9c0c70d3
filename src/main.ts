import { loadConfig, ConfigError } from './config.js';
import { createLogger } from './infra/logger.js';
import { openRuntime, type Runtime } from './infra/runtime.js';
import { composeApp, type TesseraApp } from './app.js';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  let runtime: Runtime | undefined;
  let app: TesseraApp | undefined;
  let startup: Promise<unknown> = Promise.resolve();

  // Registered before anything is opened, so a signal during start-up (an embedded Postgres
  // being initialised, migrations) still closes what was opened instead of orphaning it.
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    const force = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    force.unref();
    try {
      await startup.catch(() => undefined);
      // Keep-alive connections would hold the server open: once a request in flight has been
      // answered its connection goes idle, and is closed here instead of waiting for the client.
      const reaper = setInterval(() => app?.server.closeIdleConnections(), 50);
      reaper.unref();
      await app?.close();
      clearInterval(reaper);
      await runtime?.close();
      logger.info('shut down cleanly');
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  startup = (async () => {
    runtime = await openRuntime(config, logger);
    if (stopping) return;
    const composed = await composeApp(config, { ...runtime, logger });
    app = composed.app;
    if (stopping) return;
    await app.listen({ port: config.port, host: config.host });
    // Closed with the app (an onClose hook), so shutdown needs nothing more.
    await composed.metricsApp?.listen({ port: config.metrics.port, host: config.metrics.host });
    logger.info(
      {
        url: `http://${config.host}:${config.port}`,
        publicUrl: config.publicUrl,
        metrics: composed.metricsApp ? `http://${config.metrics.host}:${config.metrics.port}/metrics` : 'on the main port',
      },
      'Tessera is listening',
    );
  })();
  try {
    await startup;
  } catch (err) {
    // Close whatever was opened (an embedded Postgres above all) before reporting the failure.
    await Promise.allSettled([app?.close(), runtime?.close()]);
    throw err;
  }
}

main().catch((err: Error) => {
  process.stderr.write(`Tessera failed to start: ${err.message}\n`);
  process.exit(1);
});
