import type { InputSpec } from '../config/inputs.js';
import type { Input, InputContext } from './input.js';

/**
 * Build the input of `spec`. Each input's module (and its client library: amqplib, mqtt,
 * ioredis) is loaded only when such an input is configured.
 */
export async function createInput(spec: InputSpec, ctx: InputContext): Promise<Input> {
  switch (spec.handler) {
    case 'AMQPInput':
      return new (await import('./amqp-input.js')).AmqpInput(ctx, spec.config);
    case 'HTTPInput':
      return new (await import('./http-input.js')).HttpInput(ctx, spec.config, spec.at);
    case 'MQTTInput':
      return new (await import('./mqtt-input.js')).MqttInput(ctx, spec.config, spec.at);
    case 'TimerInput':
      return new (await import('./timer-input.js')).TimerInput(ctx, spec.config);
    case 'BeaconInput':
      return new (await import('./beacon-input.js')).BeaconInput(ctx, spec.config);
  }
}
