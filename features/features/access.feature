Feature: Who may give orders
  Only the CEO gives orders; the other roles read and watch.

  Background:
    Given AgentOS runs on PostgreSQL with its events relayed through NATS JetStream
    And the CEO holds a token
    And a viewer holds a token

  Scenario: A viewer cannot issue orders
    When the viewer orders "Scan inventory and reorder what is low"
    Then the answer is a 403 problem with the code "auth.forbidden"
    And the log holds no event
    And the directives list holds 0 directives
