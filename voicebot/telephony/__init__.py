"""Media entries: WebSocket (PCM, Twilio) and SIP/RTP, each handing up a pipecat transport and a CallSession."""
