import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import {
  Body, Controller, Get, Headers, HttpCode, Inject, Injectable, Logger, MiddlewareConsumer, Module, NestModule, OnApplicationBootstrap,
  OnApplicationShutdown, OnModuleDestroy, Param, Post, Query, Req, Res, StreamableFile,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ApiExcludeEndpoint, ApiNoContentResponse, ApiOkResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TailorError, isTailorError } from '../../core/errors';
import { HUB_ENV, HUB_KEY_HEADER } from '../../runtime/agent/backend';
import { parseQueueUrl } from '../../jobs/redis';
import { AgentHub, ServiceHub, hubTimingsFromEnv, installAgentHub, installedAgentHub } from '../../runtime/agent/hub';
import { ModelStore, SHA256_RE } from '../../runtime/agent/models';
import { AGENT_MAX_BODY_BYTES, AgentReport, AgentRuntime, WorkRequest, agentFingerprint } from '../../runtime/agent/protocol';
import { recordAgentReport } from '../../runtime/agent/reports';
import { RedisAgentHub } from '../../runtime/agent/redis-hub';
import { AgentTokens, bearerToken } from '../../runtime/agent/tokens';
import { DeviceService } from '../../runtime/device.service';
import { AGENT_BACKEND } from '../../runtime/devices';
import { TAILOR_CONFIG, TailorConfig } from '../config';
import { HeartbeatDto, RegisterAgentDto, ReportQuery, ResultDto, RunWorkDto, WorkQuery } from './agents.dto';

/** The hub of remote boards, wired to the workspace's devices; tokens and timings come from the environment, once. */
@Injectable()
export class AgentsService implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger('Agents');
  readonly hub: ServiceHub;
  /** Authenticates this service's own job workers on the internal routes. */
  private readonly key = randomBytes(32).toString('hex');
  private published: Record<string, string> = {};

  constructor(
    @Inject(TAILOR_CONFIG) config: TailorConfig,
    readonly devices: DeviceService,
    private readonly http: HttpAdapterHost,
  ) {
    const options = {
      tokens: AgentTokens.parse(process.env.TAILOR_AGENT_TOKENS), // malformed: the service does not start
      models: new ModelStore(path.join(config.dataDir, 'agent-models')),
      ...hubTimingsFromEnv(),
      checkDevice: (id: string) => this.checkDevice(id),
      log: { log: (m: string) => this.logger.log(m), warn: (m: string) => this.logger.warn(m) },
    };
    // With TAILOR_QUEUE, agents' work is shared by every server of the queue (connected at bootstrap).
    this.hub = config.queue ? new RedisAgentHub(options, parseQueueUrl(config.queue)) : new AgentHub(options);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.hub.models.clear(); // no session survives a restart (the data directory is this service's by now)
    await this.hub.start();
    installAgentHub(this.hub);
    // Job workers (child processes) inherit the environment: tell them where the hub answers.
    const server = this.http.httpAdapter.getHttpServer() as import('node:http').Server;
    const publish = () => {
      const a = server.address() as AddressInfo | null;
      if (!a || typeof a !== 'object') return;
      const host = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
      this.published = { [HUB_ENV.url]: `http://${host}:${a.port}`, [HUB_ENV.key]: this.key, [HUB_ENV.models]: this.hub.models.dir };
      Object.assign(process.env, this.published);
    };
    if (server.listening) publish();
    else server.once('listening', publish);
  }

  /** Before the jobs are interrupted (beforeApplicationShutdown): pending work fails shortly after, so nothing waits for a board. */
  onModuleDestroy(): void {
    this.hub.stop();
    if (installedAgentHub() === this.hub) installAgentHub(null);
    for (const [k, v] of Object.entries(this.published)) if (process.env[k] === v) delete process.env[k];
  }

  /** After the jobs are interrupted. */
  async onApplicationShutdown(): Promise<void> {
    await this.hub.close?.();
  }

  private checkDevice(id: string): void {
    if (id === 'models') throw new TailorError('AGENT_NOT_CONFIGURED', { device: id, reason: '"models" is reserved (GET /agents/models/:sha256)' });
    const d = this.devices.registry.find(id);
    if (!d) throw new TailorError('AGENT_NOT_CONFIGURED', { device: id, reason: `there is no devices/${id}.json on the server; create it with "backend": "agent"` });
    if (d.backend !== AGENT_BACKEND) throw new TailorError('AGENT_NOT_CONFIGURED', { device: id, reason: `devices/${id}.json has backend "${d.backend}", not "agent"` });
  }

  /**
   * Registers the board's agent, then records its report in the workspace: the CLI's processes
   * (predict, devices, search) compare tables with what the board reported last. A record that
   * cannot be written is logged; the agent is registered all the same.
   */
  async register(device: string, report: AgentReport) {
    const answer = await this.hub.register(device, report);
    try {
      recordAgentReport(this.devices.ws, device, report);
    } catch (e) {
      this.logger.warn(`the report of agent "${device}" could not be recorded in the workspace: ${(e as Error).message}`);
    }
    return answer;
  }

  /** Refusals are logged (device, reason, address), never the token. */
  authenticate(device: string, header: string | undefined, req: FastifyRequest, route: string): void {
    const problem = this.hub.authenticate(device, bearerToken(header));
    if (!problem) return;
    this.logger.warn(`refused ${route} for agent "${device}" from ${req.ip}: ${problem}`);
    throw new TailorError('AGENT_UNAUTHORIZED', { reason: problem });
  }

  identify(header: string | undefined, req: FastifyRequest, route: string): string {
    const token = bearerToken(header);
    const device = token ? this.hub.options.tokens.identify(token) : null;
    if (device) return device;
    const problem = token ? 'the token is not valid for any device' : 'missing Authorization: Bearer <token>';
    this.logger.warn(`refused ${route} from ${req.ip}: ${problem}`);
    throw new TailorError('AGENT_UNAUTHORIZED', { reason: problem });
  }

  checkWorkerKey(given: string | undefined, req: FastifyRequest): void {
    const a = Buffer.from(given ?? '');
    const b = Buffer.from(this.key);
    if (a.length === b.length && timingSafeEqual(a, b)) return;
    this.logger.warn(`refused an internal agent-hub call from ${req.ip}`);
    throw new TailorError('AGENT_UNAUTHORIZED', { reason: 'internal route of the service' });
  }

  /** Agent devices of the workspace with what their agents reported (if any connected since the service started). */
  async list() {
    const devices = this.devices.list().filter((d) => d.backend === AGENT_BACKEND);
    const ids = new Set([...devices.map((d) => d.id), ...(await this.hub.list()).map((a) => a.id)]);
    return Promise.all([...ids].sort().map((id) => this.describe(id, devices.find((d) => d.id === id)?.options.runtime as AgentRuntime | undefined)));
  }

  async describe(id: string, runtime?: AgentRuntime) {
    const view = await this.hub.get(id);
    const rt = runtime ?? (this.devices.registry.find(id)?.options.runtime as AgentRuntime | undefined) ?? 'ort-cpu';
    if (!view) return { id, runtime: rt, status: 'never connected' as const };
    return { ...view, runtime: rt, fingerprint: agentFingerprint(view, rt) };
  }
}

/** Refuses oversized agent messages before their body is read (middleware runs at onRequest). */
function limitAgentBodies(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  const length = Number(req.headers['content-length'] ?? 0);
  const chunked = req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined;
  if (length <= AGENT_MAX_BODY_BYTES && !chunked) return next();
  const [statusCode, error, message] = chunked
    ? [411, 'Length Required', 'Agent messages need a Content-Length header']
    : [413, 'Payload Too Large', new TailorError('AGENT_MESSAGE_TOO_LARGE', { size: `${length} bytes`, limit: `${AGENT_MAX_BODY_BYTES} bytes` }).message];
  res.statusCode = statusCode;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('connection', 'close');
  res.end(JSON.stringify({ statusCode, error, message }));
}

const BEARER = 'authorization';

@ApiTags('agents')
@Controller('agents')
class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Get()
  @ApiOkResponse({ description: 'Agent devices: status (online, lost, never connected), last heartbeat, clock skew, machine, backends, fingerprint, queued and leased work' })
  list() {
    return this.agents.list();
  }

  @Post('register')
  @ApiUnauthorizedResponse({ description: 'Missing or wrong token (Authorization: Bearer <token>, per device, from TAILOR_AGENT_TOKENS)' })
  @ApiOkResponse({ description: '{ session, heartbeatMs, missedHeartbeats, pollSeconds }' })
  register(@Headers(BEARER) auth: string | undefined, @Body() body: RegisterAgentDto, @Req() req: FastifyRequest) {
    this.agents.authenticate(body.deviceId, auth, req, 'register');
    const { deviceId, ...report } = body;
    return this.agents.register(deviceId, report);
  }

  @Get('models/:sha256')
  @ApiOkResponse({ description: 'The bytes of a model that work leased to the calling agent needs (application/octet-stream)' })
  async model(@Headers(BEARER) auth: string | undefined, @Param('sha256') sha: string, @Req() req: FastifyRequest): Promise<StreamableFile> {
    const device = this.agents.identify(auth, req, 'model download');
    if (!SHA256_RE.test(sha)) throw new TailorError('INVALID_REQUEST', { reason: 'sha256 must be 64 lowercase hex digits' });
    const bytes = await this.agents.hub.model(device, sha);
    return new StreamableFile(bytes, { type: 'application/octet-stream', length: bytes.length });
  }

  @Get(':id')
  @ApiOkResponse({ description: 'One agent device, as in GET /agents' })
  get(@Param('id') id: string) {
    const d = this.agents.devices.get(id);
    if (d.backend !== AGENT_BACKEND) throw new TailorError('AGENT_NOT_CONFIGURED', { device: id, reason: `its backend is "${d.backend}", not "agent"` });
    return this.agents.describe(id, d.options.runtime as AgentRuntime | undefined);
  }

  @Post(':id/heartbeat')
  @HttpCode(200)
  heartbeat(@Param('id') id: string, @Headers(BEARER) auth: string | undefined, @Body() body: HeartbeatDto, @Req() req: FastifyRequest) {
    this.agents.authenticate(id, auth, req, 'heartbeat');
    return this.agents.hub.heartbeat(id, body.session, body.clock, body.working ?? null);
  }

  @Get(':id/work')
  @ApiOkResponse({ description: 'A work item: { id, lease, op, session, warmup?, runs? }' })
  @ApiNoContentResponse({ description: 'No work within `wait` seconds: poll again' })
  async work(
    @Param('id') id: string, @Headers(BEARER) auth: string | undefined, @Query() q: WorkQuery,
    @Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    this.agents.authenticate(id, auth, req, 'work poll');
    // A poll whose connection drops takes no work (its agent would never see it).
    const gone = new AbortController();
    reply.raw.once('close', () => reply.raw.writableFinished || gone.abort());
    const work = await this.agents.hub.poll(id, q.session, q.wait ?? 25, gone.signal);
    if (!work) reply.code(204);
    return work ?? undefined;
  }

  @Post(':id/results/:workId')
  @HttpCode(200)
  async result(
    @Param('id') id: string, @Param('workId') workId: string, @Headers(BEARER) auth: string | undefined,
    @Body() body: ResultDto, @Req() req: FastifyRequest,
  ) {
    this.agents.authenticate(id, auth, req, 'result');
    await this.agents.hub.result(id, workId, body as never);
    return { accepted: true };
  }

  // ---- internal: the service's job workers (search --measure) reach the hub through these ----

  @Get(':id/internal/report')
  @ApiExcludeEndpoint()
  async report(@Param('id') id: string, @Query() q: ReportQuery, @Headers(HUB_KEY_HEADER) key: string | undefined, @Req() req: FastifyRequest) {
    this.agents.checkWorkerKey(key, req);
    return envelope(() => (q.wait ? this.agents.hub.waitForAgent(id) : Promise.resolve(this.agents.hub.report(id))));
  }

  @Post(':id/internal/run')
  @HttpCode(200)
  @ApiExcludeEndpoint()
  async run(@Param('id') id: string, @Body() body: RunWorkDto, @Headers(HUB_KEY_HEADER) key: string | undefined, @Req() req: FastifyRequest) {
    this.agents.checkWorkerKey(key, req);
    return envelope(() => this.agents.hub.run(id, body as WorkRequest));
  }
}

/** The worker rethrows the hub's own TailorError: { result } or { failure: { code, params } }. */
async function envelope<T>(fn: () => Promise<T>) {
  try {
    return { result: await fn() };
  } catch (e) {
    if (isTailorError(e)) return { failure: { code: e.code, params: e.params } };
    throw e;
  }
}

@Module({ controllers: [AgentsController], providers: [AgentsService], exports: [AgentsService] })
export class AgentsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(limitAgentBodies).forRoutes(AgentsController);
  }
}
